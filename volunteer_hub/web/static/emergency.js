// The call-out page's live headcount: polls the page's JSON every few seconds and updates
// the numbers in place. Without this file the page shows the numbers as of its loading.
(function () {
  var section = document.querySelector("[data-headcount]");
  if (!section || !window.fetch) { return; }
  var url = section.getAttribute("data-headcount");
  var every = 3000;
  var failures = 0;

  function show(count) {
    section.querySelectorAll("[data-field]").forEach(function (el) {
      var name = el.getAttribute("data-field");
      if (name === "progress") {
        el.max = count.recipients;
        el.value = count.acknowledged;
        el.textContent = count.acknowledged + " / " + count.recipients;
      } else if (Object.prototype.hasOwnProperty.call(count, name)) {
        el.textContent = String(count[name]);
      }
    });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (r) {
        if (!r.ok) { throw new Error(String(r.status)); }
        return r.json();
      })
      .then(function (count) {
        failures = 0;
        show(count);
      })
      .catch(function () { failures += 1; })
      .then(function () {
        // A page left open for hours on a failing network must not hammer the server.
        setTimeout(poll, every * Math.min(10, 1 + failures));
      });
  }
  setTimeout(poll, every);
})();
