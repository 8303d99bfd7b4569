"""Zadig's message texts in zh-cn and en-us (specs/zadig.md §3), keyed by meaning."""

from __future__ import annotations

ZH_CN = "zh-cn"
EN_US = "en-us"
LANGUAGES = (ZH_CN, EN_US)

TEXTS: dict[str, dict[str, str]] = {
    ZH_CN: {
        "executor": "执行用户",
        "project": "项目名称",
        "pending_stage": "待执行阶段",
        "start_time": "开始时间",
        "duration": "持续时间",
        "remark": "备注",
        "status": "状态",
        "repository": "代码信息",
        "commit_message": "提交信息",
        "image": "镜像信息",
        "env": "环境",
        "test_result": "测试结果",
        "scan_result": "扫描结果",
        "success": "成功",
        "failure": "失败",
        "total": "总数",
        "error": "错误信息",
        "more": "点击查看更多信息",
        "mentions": "相关人员",
        "at_all": "所有人",
        "truncated": "…(内容过长，已截断)",
        "more_jobs": "…(另有 {n} 个任务未显示)",
        "workflow": "工作流",
        "mail_greeting": "您好，",
        "mail_intro": "{task_type} [{name}#{id}] 执行信息如下:",
        "mail_footer": "本邮件由 tidings 系统自动发出，请勿直接回复。",
    },
    EN_US: {
        "executor": "Executor",
        "project": "Project",
        "pending_stage": "Pending stage",
        "start_time": "Start Time",
        "duration": "Duration",
        "remark": "Remark",
        "status": "Status",
        "repository": "Repository",
        "commit_message": "Commit Message",
        "image": "Image",
        "env": "Environment",
        "test_result": "Test Result",
        "scan_result": "Scan Result",
        "success": "Success",
        "failure": "Failure",
        "total": "Total",
        "error": "Error",
        "more": "Click for more information",
        "mentions": "Mentions",
        "at_all": "all",
        "truncated": "…(too long, truncated)",
        "more_jobs": "…({n} more jobs not shown)",
        "workflow": "Workflow",
        "mail_greeting": "Hello,",
        "mail_intro": "{task_type} [{name}#{id}] details:",
        "mail_footer": "This email was sent automatically by tidings; please do not reply.",
    },
}

STATUS_TEXTS: dict[str, dict[str, str]] = {
    ZH_CN: {
        "passed": "执行成功",
        "failed": "执行失败",
        "cancelled": "执行取消",
        "timeout": "执行超时",
        "reject": "执行被拒绝",
        "created": "开始执行",
        "prepare": "开始执行",
        "running": "执行中",
        "wait_for_approval": "待确认",
        "pause": "暂停",
        "manual_pause": "等待手动执行",
        "skipped": "未执行",
        "": "未执行",
    },
    EN_US: {
        "passed": "Passed",
        "failed": "Failed",
        "cancelled": "Cancelled",
        "timeout": "Timeout",
        "reject": "Rejected",
        "created": "Created",
        "prepare": "Created",
        "running": "Running",
        "wait_for_approval": "Waiting for confirmation",
        "pause": "Pause",
        "manual_pause": "Waiting for Manual Execution",
        "skipped": "Unstarted",
        "": "Unstarted",
    },
}

JOB_TYPE_TEXTS: dict[str, dict[str, str]] = {
    ZH_CN: {
        "zadig-build": "构建",
        "freestyle": "通用任务",
        "zadig-deploy": "部署",
        "zadig-helm-deploy": "部署",
        "custom-deploy": "部署",
        "zadig-test": "测试",
        "zadig-scanning": "代码扫描",
        "zadig-distribute-image": "镜像分发",
        "notification": "通知",
        "approval": "审批",
        "plugin": "自定义任务",
    },
    EN_US: {
        "zadig-build": "Build",
        "freestyle": "Freestyle",
        "zadig-deploy": "Deploy",
        "zadig-helm-deploy": "Deploy",
        "custom-deploy": "Deploy",
        "zadig-test": "Test",
        "zadig-scanning": "Scanning",
        "zadig-distribute-image": "Image Distribution",
        "notification": "Notification",
        "approval": "Approval",
        "plugin": "Plugin",
    },
}

TASK_TYPE_TEXTS: dict[str, dict[str, str]] = {
    # Each holds 工作流 / Workflow: users set it as their robots' keyword (zadig.md, "Keep").
    ZH_CN: {"workflow": "工作流", "scan": "代码扫描工作流", "test": "测试工作流"},
    EN_US: {"workflow": "Workflow", "scan": "Scanning Workflow", "test": "Test Workflow"},
}


def status_text(status: str, language: str) -> str:
    """Zadig's wording of a status; any status it does not name reads as failed, as in Zadig."""
    table = STATUS_TEXTS[language]
    return table.get(status, table["failed"])


def icon(status: str) -> str:
    if status in ("passed", "created", "prepare"):
        return "👍"
    if status == "failed":
        return "❌"
    return "⚠️"


def colour(status: str) -> str:
    """DingTalk title colour."""
    if status in ("passed", "created", "prepare"):
        return "#00a13e"
    if status in ("wait_for_approval", "pause"):
        return "#ff8800"
    return "#eb0823"


def feishu_template(status: str) -> str:
    """Feishu card header colour."""
    if status in ("passed", "created", "prepare"):
        return "green"
    if status in ("wait_for_approval", "pause"):
        return "orange"
    return "red"


def teams_colour(status: str) -> str:
    """Adaptive Card colour / container style, by the same rule as the others."""
    if status in ("passed", "created", "prepare"):
        return "good"
    if status in ("wait_for_approval", "pause"):
        return "warning"
    return "attention"
