"""Zadig's message texts in zh-cn and en-us, keyed by meaning: zhTextMap / enTextMap and the
functions around them in instantmessage/workflow_task.go (getText, taskStatus, jobType,
getTaskType, getIcon, getColor) and the mail templates (notification.html,
notification_en.html). tidings' own texts (truncation markers, error lines) are marked.
"""

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
        "more": "点击查看更多信息",
        "mentions": "相关人员",  # Zadig writes it in Chinese whatever the language
        "at_all": "所有人",
        "workflow": "工作流",  # notificationTextWorkflow: the approval message's title
        "waiting_for_approval": "等待审批",
        "sonar_gate": "质量检查",
        "sonar_ncloc": "行数",
        "sonar_bugs": "Bugs",
        "sonar_vulnerabilities": "代码漏洞",
        "sonar_code_smells": "容易出错",
        "sonar_coverage": "覆盖率",
        "mail_greeting": "您好",
        "mail_intro": "{task_type} [{name}#{id}]\n            执行信息如下:",
        "mail_more": "点击查看更多信息",
        "mail_footer": "本邮件由 Zadig 系统自动发出，请勿直接回复。",
        "mail_signature": "Made By Zadig Team ♥ Happy Coding.",
        # tidings' own (extensions): the error of a failed task or job, shortened content.
        "error": "错误信息",
        "truncated": "…(内容过长，已截断)",
        "more_jobs": "…(另有 {n} 个任务未显示)",
    },
    EN_US: {
        "executor": "Executor",
        "project": "Project Name",
        "pending_stage": "Pending Stage",
        "start_time": "Start Time",
        "duration": "Duration",
        "remark": "Remark",
        "status": "Status",
        "repository": "Repository Information",
        "commit_message": "Commit Message",
        "image": "Image Information",
        "env": "Environment",
        "test_result": "Test Result",
        "scan_result": "Scanning Result",
        "success": "Success",
        "failure": "Failed",
        "total": "Total",
        "more": "Click for More Information",
        "mentions": "相关人员",
        "at_all": "所有人",
        "workflow": "Workflow",
        "waiting_for_approval": "waiting for approval",
        "sonar_gate": "Quality Gate Status",
        "sonar_ncloc": "Ncloc",
        "sonar_bugs": "Bugs",
        "sonar_vulnerabilities": "Vulnerabilities",
        "sonar_code_smells": "Code Smells",
        "sonar_coverage": "Coverage",
        "mail_greeting": "Hello",
        "mail_intro": "{task_type} [{name}#{id}]\n            Execution information:",
        "mail_more": "Click for more information",
        "mail_footer": (
            "This email is automatically sent by the Zadig system. Please do not reply directly."
        ),
        "mail_signature": "Made By Zadig Team ♥ Happy Coding.",
        "error": "Error",
        "truncated": "…(too long, truncated)",
        "more_jobs": "…({n} more jobs not shown)",
    },
}

# taskStatus: what a task or job status reads as. A status it does not name reads as failed.
STATUS_TEXTS: dict[str, dict[str, str]] = {
    ZH_CN: {
        "passed": "执行成功",
        "failed": "执行失败",
        "cancelled": "执行取消",
        "timeout": "执行超时",
        "reject": "执行被拒绝",
        "created": "开始执行",
        "prepare": "开始执行",
        "wait_for_approval": "待确认",
        "wait_for_manual_error_handling": "待确认",
        "pause": "暂停",
        "manual_pause": "等待手动执行",  # taskStatusWaitingManualExec
        "": "未执行",
        # tidings' own (extensions): Zadig shows these as 执行失败.
        "running": "执行中",
        "skipped": "未执行",
    },
    EN_US: {
        "passed": "Passed",
        "failed": "Failed",
        "cancelled": "Cancelled",
        "timeout": "Timeout",
        "reject": "Rejected",
        "created": "Created",
        "prepare": "Created",
        "wait_for_approval": "Waiting for confirmation",
        "wait_for_manual_error_handling": "Waiting for confirmation",
        "pause": "Pause",
        "manual_pause": "Waiting for Manual Execution",
        "": "Unstarted",
        "running": "Running",
        "skipped": "Unstarted",
    },
}

# jobType: the name of each job type Zadig names; any other type is shown as written.
JOB_TYPE_TEXTS: dict[str, dict[str, str]] = {
    ZH_CN: {
        "zadig-build": "构建",
        "zadig-deploy": "容器服务部署",
        "zadig-vm-deploy": "主机服务部署",
        "freestyle": "通用任务",
        "nacos": "Nacos 配置变更",
        "plugin": "插件",
        "zadig-test": "测试",
        "zadig-scanning": "代码扫描",
        "approval": "人工审批",
        "zadig-distribute-image": "镜像分发",
        "custom-deploy": "Kubernetes 部署",
        "k8s-canary-deploy": "金丝雀部署",
        "k8s-canary-release": "金丝雀发布",
        "mse-gray-release": "MSE 灰度发布",
        "mse-gray-offline": "下线 MSE 灰度服务",
        "k8s-blue-green-deploy": "部署蓝绿环境",
        "k8s-blue-green-release": "蓝绿发布",
        "k8s-resource-patch": "更新 K8s YAML 任务",
        "k8s-gray-rollback": "灰度回滚",
        "k8s-gray-release": "灰度发布",
        "istio-release": "Istio 发布",
        "istio-rollback": "Istio 回滚",
        "update-env-istio-config": "更新 Istio 灰度策略",
        "jira": "JIRA 问题状态变更",
        "pingcode": "PingCode 工作项状态变更",
        "tapd": "Tapd 状态变更",
        "apollo": "Apollo 配置变更",
        "meego-transition": "飞书工作项状态变更",
        "workflow-trigger": "触发 Zadig 工作流",
        "offline-service": "下线服务",
        "zadig-helm-chart-deploy": "Helm Chart 部署",
        "grafana": "Grafana 监测",
        "jenkins": "执行 Jenkins job",
        "blueking": "执行蓝鲸作业",
        "sql": "SQL 数据变更",
        "notification": "通知",
        "sae-deploy": "SAE 应用部署",
    },
    EN_US: {
        "zadig-build": "Build",
        "zadig-deploy": "Deploy",
        "zadig-vm-deploy": "Deploy to Host",
        "freestyle": "Common",
        "nacos": "Nacos Configuration Changes",
        "plugin": "Plugin",
        "zadig-test": "Test",
        "zadig-scanning": "Scan",
        "approval": "Approval",
        "zadig-distribute-image": "Image Distribute",
        "custom-deploy": "Kubernetes Deploy",
        "k8s-canary-deploy": "Canary Deploy",
        "k8s-canary-release": "Canary Release",
        "mse-gray-release": "MSE Gray Deploy",
        "mse-gray-offline": "Offline MSE Gray Service",
        "k8s-blue-green-deploy": "Blue-Green Deploy",
        "k8s-blue-green-release": "Blue-Green Release",
        "k8s-resource-patch": "Kubernetes Resource Patch",
        "k8s-gray-rollback": "Gray Rollback",
        "k8s-gray-release": "Gray Release",
        "istio-release": "Istio Release",
        "istio-rollback": "Istio Rollback",
        "update-env-istio-config": "Istio Strategy",
        "jira": "JIRA Issue Status Change",
        "pingcode": "PingCode Work Item Status Change",
        "tapd": "Tapd Status Change",
        "apollo": "Apollo Configs",
        "meego-transition": "Status change of Lark work item",
        "workflow-trigger": "Trigger other workflows",
        "offline-service": "Service Offline",
        "zadig-helm-chart-deploy": "Helm Chart Deploy",
        "grafana": "Grafana Monitor",
        "jenkins": "Execute Jenkins job",
        "blueking": "Execute BlueKing job",
        "sql": "SQL Changes",
        "notification": "Notification",
        "sae-deploy": "SAE Deploy",
    },
}

# getTaskType: a task's type (the snapshot's task_type); any other is a workflow.
TASK_TYPE_TEXTS: dict[str, dict[str, str]] = {
    ZH_CN: {"workflow": "工作流", "scan": "代码扫描", "test": "测试"},
    EN_US: {"workflow": "workflow", "scan": "scanning", "test": "testing"},
}

# getQualityGateStatusText: SonarQube's quality gate; in en-us the status as SonarQube says it.
SONAR_GATE_TEXTS: dict[str, str] = {
    "OK": "通过",
    "WARN": "警告",
    "ERROR": "未通过",
    "NONE": "未开启",
}


def status_text(status: str, language: str) -> str:
    """Zadig's wording of a status; any status it does not name reads as failed, as in Zadig."""
    table = STATUS_TEXTS[language]
    return table.get(status, table["failed"])


def job_type_text(job_type: str, language: str) -> str:
    return JOB_TYPE_TEXTS[language].get(job_type, job_type)


def task_type_text(task_type: str, language: str) -> str:
    table = TASK_TYPE_TEXTS[language]
    return table.get(task_type, table["workflow"])


def sonar_gate_text(gate: str, language: str) -> str:
    if language == EN_US:
        return gate or "NONE"
    return SONAR_GATE_TEXTS.get(gate or "NONE", "")


def icon(status: str) -> str:
    if status in ("passed", "created", "prepare"):
        return "👍"
    if status == "failed":
        return "❌"
    return "⚠️"


APPROVAL_COLOUR = "#3270e3"  # the approval message's and notification jobs' DingTalk title


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
    """The colour of the Teams card's title (sendMSTeamsMessage): good, attention, warning."""
    if status in ("passed", "created"):
        return "good"
    if status == "failed":
        return "attention"
    return "warning"
