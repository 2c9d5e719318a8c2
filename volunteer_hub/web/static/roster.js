// The roster's camera scanner: reads a volunteer's check-in QR code and posts it through
// the typed-code form. Without a camera (or without this script) the form works by hand.
(function () {
  var box = document.getElementById("scan");
  var button = document.getElementById("scan-start");
  var video = document.getElementById("scan-video");
  var status = document.getElementById("scan-status");
  var form = document.getElementById("code-form");
  if (!box || !button || !video || !form) { return; }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { return; }
  button.hidden = false;
  var stream = null;
  var canvas = document.createElement("canvas");

  function say(text) { status.textContent = text || ""; }

  function stop() {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
    stream = null;
    video.hidden = true;
  }

  function found(text) {
    stop();
    form.querySelector("input[name=code]").value = text.trim();
    form.requestSubmit ? form.requestSubmit() : form.submit();
  }

  // A decoder: the browser's own where it has one, else the vendored jsQR (loaded once).
  function decoder() {
    if ("BarcodeDetector" in window) {
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      return Promise.resolve(function () {
        return detector.detect(video).then(function (codes) {
          return codes.length ? codes[0].rawValue : null;
        });
      });
    }
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = "/static/vendor/jsQR.js";
      script.onload = function () {
        resolve(function () {
          var w = video.videoWidth, h = video.videoHeight;
          if (!w || !h) { return Promise.resolve(null); }
          canvas.width = w; canvas.height = h;
          var ctx = canvas.getContext("2d", { willReadFrequently: true });
          ctx.drawImage(video, 0, 0, w, h);
          var code = window.jsQR(ctx.getImageData(0, 0, w, h).data, w, h);
          return Promise.resolve(code ? code.data : null);
        });
      };
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  button.addEventListener("click", function () {
    if (stream) { stop(); return; }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        return video.play().then(decoder);
      })
      .then(function (read) {
        say(box.getAttribute("data-scan-empty"));
        (function tick() {
          if (!stream) { return; }
          read().then(function (text) {
            if (text) { found(text); } else { setTimeout(tick, 250); }
          }, function () { setTimeout(tick, 250); });
        })();
      })
      .catch(function () { stop(); say(box.getAttribute("data-scan-denied")); });
  });
})();
