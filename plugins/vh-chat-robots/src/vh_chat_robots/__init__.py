"""WeCom (企业微信) and DingTalk (钉钉) group robots for volunteer_hub: the ``wecom_robot`` and
``dingtalk_robot`` notification channels.

The plugin object registered under the ``volunteer_hub`` entry-point group is
``vh_chat_robots.plugin``.
"""
