"""Tencent Cloud SMS (腾讯云短信) for volunteer_hub: the ``tencent_sms`` notification channel.

The plugin object registered under the ``volunteer_hub`` entry-point group is
``vh_tencent_sms.plugin``.
"""
