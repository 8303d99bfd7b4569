# ruff: noqa: E501 (a table of phrases: one per line, however long)
"""The console's words in en-us and zh-cn, and which language a person gets.

Templates write English (`t("Deliveries")`); ZH maps each phrase to its Chinese. A phrase
missing from ZH shows in English (tests/console/test_console_pages.py checks that none is).
"""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("zh-cn", "en-us")
LANG_COOKIE = "tidings_lang"

ZH: dict[str, str] = {
    # layout
    "tidings console": "tidings 控制台",
    "Skip to content": "跳到正文",
    "Overview": "概览",
    "Workflows": "工作流",
    "Deliveries": "投递",
    "Preview": "预览",
    "Sign in": "登录",
    "Sign out": "退出登录",
    "Signed in as": "当前令牌",
    "scopes": "权限",
    "Language": "语言",
    "API": "API",
    # sign-in
    "API token": "API 令牌",
    "A token of system.api_tokens. It is checked once and never stored in the browser.": "system.api_tokens 中的一个令牌。只在登录时校验一次，不会保存在浏览器中。",
    "Unknown token: it is not in system.api_tokens.": "未知令牌：它不在 system.api_tokens 中。",
    "The form expired: sign in again.": "表单已过期：请重新登录。",
    "You signed out.": "已退出登录。",
    "Your session ended: sign in again.": "会话已结束：请重新登录。",
    # errors
    "Not allowed": "无权操作",
    "Not found": "未找到",
    "Refused": "已拒绝",
    "This form expired or did not come from this console: reload the page and try again.": "表单已过期或并非来自本控制台：请刷新页面后重试。",
    "Your token may not do this: it needs scope": "你的令牌无权执行此操作，需要权限",
    "Back to the overview": "返回概览",
    # overview
    "Recent tasks": "最近任务",
    "No task yet.": "还没有任务。",
    "Delivery health, last 24 hours": "最近 24 小时投递情况",
    "Channel": "渠道",
    "sent": "已发送",
    "retrying": "重试中",
    "waiting": "等待发送",
    "failed": "失败",
    "dead": "已放弃",
    "coalesced": "已合并",
    "pending": "等待发送",
    "No delivery in the last 24 hours.": "最近 24 小时没有投递。",
    "Most common errors": "最常见的错误",
    "Code": "错误码",
    "Count": "次数",
    "Latest error and hint": "最近一次错误与提示",
    "No error in the last 24 hours.": "最近 24 小时没有错误。",
    "Queue": "队列",
    "pending deliveries": "条待发送",
    "Paused destinations": "已暂停的目的地",
    "Failures in a row paused these destinations: nothing is sent to them until the time shown; then one delivery tries, and a success resumes them.": "连续失败使这些目的地被暂停：在所示时间之前不向其发送；之后先试发一条，成功即恢复。",
    "Paused until": "暂停至",
    "Pending": "待发送",
    "Failures in a row": "连续失败",
    "oldest recorded": "最早一条记录于",
    "The queue is empty.": "队列为空。",
    "Workers": "投递进程",
    "this server's worker": "本服务的投递进程",
    "running": "运行中",
    "not running (--no-worker)": "未运行（--no-worker）",
    "Worker": "进程",
    "Attempts (15 min)": "尝试次数（15 分钟）",
    "Last attempt": "最近一次尝试",
    "Leased destinations": "占用的目的地",
    "Heartbeat": "心跳",
    # all tasks
    "Tasks": "任务",
    "Last change": "最后更新",
    "Run by": "运行方",
    "sent from elsewhere": "外部发送",
    "No task matches.": "没有符合条件的任务。",
    # action results (flashes), with their values in {braces}
    "choose a user": "请选择用户",
    "{task}: cancel requested": "{task}：已请求取消",
    "{task}: stage {stage} run by {user}": "{task}：阶段 {stage} 已由 {user} 执行",
    "{task}: approved by {user}": "{task}：{user} 已批准",
    "{task}: rejected by {user}": "{task}：{user} 已拒绝",
    "task {task} was not run by tidings: it cannot be changed here": "任务 {task} 不是由 tidings 运行的，无法在此更改",
    "task {task} already ended: {status}": "任务 {task} 已结束：{status}",
    "task {task} is not paused before a manual stage": "任务 {task} 没有停在手动阶段之前",
    "task {task} is not waiting for an approval": "任务 {task} 没有在等待审批",
    "nothing to send": "没有可发送的内容",
    "queued {count} new deliveries": "已加入 {count} 条新投递",
    "only a failed or dead delivery is retried": "只能重试失败或已放弃的投递",
    "queued again under the same id": "已用同一 ID 重新排队",
    "stopped": "已停止",
    "No other worker seen in the last 15 minutes.": "最近 15 分钟没有其他投递进程活动。",
    # workflows
    "Check the file on disk now": "立即检查磁盘上的配置文件",
    "The configuration on disk is valid.": "磁盘上的配置有效。",
    "The configuration on disk has problems (this server keeps the one it started with):": "磁盘上的配置有错误（本服务仍使用启动时读取的配置）：",
    "Warnings": "警告",
    "Problems": "错误",
    "Configuration": "配置",
    "Project": "项目",
    "Stages": "阶段",
    "Notifications": "通知",
    "No notify_ctls: nobody is told about this workflow's tasks.": "没有 notify_ctls：此工作流的任务不会通知任何人。",
    "disabled": "已停用",
    "manual": "手动执行",
    "approvers": "审批人",
    "needed": "所需审批数",
    "Events come from outside (no stages).": "事件来自外部系统（没有阶段）。",
    "tasks": "任务",
    "Preview its messages": "预览消息",
    "everyone": "所有人",
    # task
    "Task": "任务",
    "Status": "状态",
    "Creator": "执行用户",
    "Remark": "备注",
    "Started": "开始时间",
    "Ended": "结束时间",
    "Duration": "持续时间",
    "Error": "错误信息",
    "Stage": "阶段",
    "Job": "任务",
    "Type": "类型",
    "Logs": "日志",
    "no log": "无日志",
    "Logs as they were when the page was loaded.": "日志为页面加载时的内容。",
    "last": "最后",
    "bytes": "字节",
    "Waiting for approval of job": "等待审批：任务",
    "Paused before stage": "暂停，等待手动执行阶段",
    "As user": "以用户身份",
    "Comment": "备注",
    "Approve": "通过",
    "Reject": "拒绝",
    "Run stage": "执行阶段",
    "Cancel task": "取消任务",
    "Cancel requested": "已请求取消",
    "A snapshot sent by another system: tidings cannot act on it.": "由其他系统发送的任务快照：tidings 无法操作它。",
    "No notification yet.": "还没有通知。",
    "Live": "实时",
    "updates as the task runs": "任务运行时自动更新",
    # deliveries
    "All": "全部",
    "Workflow": "工作流",
    "From": "从",
    "Until": "到",
    "Filter": "筛选",
    "Clear": "清除",
    "Time": "时间",
    "Destination": "目的地",
    "Source": "来源",
    "Attempts": "尝试",
    "Last error": "最近错误",
    "Newer": "更新的",
    "Older": "更早的",
    "No delivery matches.": "没有符合条件的投递。",
    "Delivery": "投递",
    "Event": "事件",
    "Address": "地址",
    "Label": "类型",
    "Created": "创建时间",
    "Finished": "完成时间",
    "Next attempt": "下次尝试",
    "Expires": "过期时间",
    "At": "时间",
    "Outcome": "结果",
    "HTTP": "HTTP",
    "Detail": "详情",
    "Hint": "提示",
    "ms": "毫秒",
    "No attempt yet.": "还没有尝试。",
    "Skipped when planned": "规划时跳过",
    "Digest": "合并通知",
    "Merged into digest": "已合并到合并通知",
    "Events this digest carries": "本合并通知包含的事件",
    "Stored request (no secrets: it is signed when sent)": "保存的请求（不含密钥：发送时才签名）",
    "Retry": "重试",
    "Re-plan with today's configuration": "按当前配置重新规划",
    "Retry sends the stored request again under the same id; re-plan sends its event wherever today's configuration says and it has not arrived.": "重试会以同一 ID 再次发送保存的请求；重新规划会按当前配置把事件发送到尚未送达的目的地。",
    "Queued again": "已重新排队",
    # preview
    "See each message as its platform will show it, before anything is sent.": "在发送之前，按各平台的显示效果查看每条消息。",
    "From a workflow": "按工作流",
    "or paste a task snapshot or Zadig webhook payload": "或粘贴任务快照 / Zadig webhook 数据",
    "Task snapshot (JSON)": "任务快照（JSON）",
    "Leave empty to use the workflow's latest task (or an example).": "留空则使用该工作流最近的任务（或示例任务）。",
    "Show the preview": "显示预览",
    "Nothing fires for this status.": "此状态不会触发任何通知。",
    "Skipped": "跳过",
    "Requests as sent": "实际发送的请求",
    "Headers": "请求头",
    "Body": "请求体",
    "Send a test message": "发送测试消息",
    "Sends this message to this destination now, through the outbox.": "立即通过发件箱把这条消息发送到该目的地。",
    "Test message queued": "测试消息已排队",
    "Subject": "主题",
    "To": "收件人",
    "Mail as the recipient sees it": "收件人看到的邮件",
    "based on": "基于",
    "an example task": "示例任务",
    "the pasted snapshot": "粘贴的快照",
    "Mentions": "提及",
    "The Feishu card": "飞书卡片",
    "then": "随后",
    # statuses
    "created": "开始执行",
    "passed": "执行成功",
    "cancelled": "执行取消",
    "timeout": "执行超时",
    "reject": "执行被拒绝",
    "pause": "暂停",
    "prepare": "准备中",
    "skipped": "未执行",
    "wait_for_approval": "待确认",
    "changed": "状态变化",
    "test": "测试消息",
    "notification": "通知消息",
    "ok": "成功",
    "retry": "重试",
    "fail": "失败",
}

# How people call each webhook_type.
CHANNEL_NAMES = {
    "dingding": ("DingTalk robot", "钉钉机器人"),
    "wechat": ("WeCom robot", "企业微信机器人"),
    "feishu": ("Feishu bot", "飞书机器人"),
    "feishu_app": ("Feishu app, group", "飞书应用（群）"),
    "feishu_person": ("Feishu app, people", "飞书应用（个人）"),
    "mail": ("Mail", "邮件"),
    "msteams": ("Microsoft Teams", "Microsoft Teams"),
    "slack": ("Slack", "Slack"),
    "webhook": ("Webhook", "Webhook"),
}


def translator(language: str) -> Callable[[str], str]:
    """`t(phrase)` in this language."""
    if language == "zh-cn":
        return lambda phrase: ZH.get(phrase, phrase)
    return lambda phrase: phrase


def channel_name(webhook_type: str, language: str) -> str:
    english, chinese = CHANNEL_NAMES.get(webhook_type, (webhook_type, webhook_type))
    return chinese if language == "zh-cn" else english


def choose(chosen: str | None, accept_language: str | None, default: str) -> str:
    """The person's choice (the switch's cookie), else the browser's first language tidings
    speaks (Accept-Language, by its q values), else system.language."""
    if chosen in LANGUAGES:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip().lower()))
    for _quality, _position, tag in sorted(ranked):
        if tag.startswith("zh"):
            return "zh-cn"
        if tag.startswith("en"):
            return "en-us"
    return default
