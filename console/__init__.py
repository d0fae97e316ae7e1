"""The review console: a web page on loopback where analysts read alerts and send verdicts back.

``shopguard console`` (:mod:`shopguard.console.server`) follows the alerts, the analysts' verdicts and the
rules from Kafka into an :class:`~shopguard.console.alert_board.AlertBoard` and serves it with Starlette
(:mod:`shopguard.console.web_app`). docs/console.md describes the pages and the settings.
"""
