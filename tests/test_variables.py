"""{{.variables}} under Zadig's names (BuildWorkflowSystemVariableKVs, BuildPayloadVariables,
BuildWorkflowTriggerVariableKVs), with tidings' own names as aliases."""

from datetime import datetime

from helpers import seed_task
from tidings.dispatch.task import parse_task
from tidings.notify import variables


def test_zadigs_names_and_tidings_aliases():
    task = parse_task(
        {
            **seed_task(),
            "workflow_display_name": "演示 工作流",
            "project_display_name": "演示项目",
            "payload": {"trigger": {"branch": "main", "pr": 7}, "commits": [{"id": "abc"}]},
        }
    )
    values = variables.task_values(task, "https://zadig.example.com")
    when = task.create_time
    assert {k: values[k] for k in variables.ZADIG} == {
        "project": "yaml",
        "project.id": "yaml",
        "project.name": "演示项目",
        "workflow.id": "demo-workflow-dev",
        "workflow.name": "演示 工作流",  # the display name, as in Zadig
        "workflow.task.id": "47",
        "workflow.task.creator": "admin",
        "workflow.task.creator.id": "89358827-5137-11ee-b0c5-56d5fd1dd39e",
        "workflow.task.creator.userId": "89358827-5137-11ee-b0c5-56d5fd1dd39e",
        "workflow.task.timestamp": str(when),
        "workflow.task.datetime": datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M:%S"),
        "workflow.task.url": "https://zadig.example.com/v1/projects/detail/yaml/pipelines/"
        "custom/demo-workflow-dev/47?display_name=%E6%BC%94%E7%A4%BA+%E5%B7%A5%E4%BD%9C%E6%B5%81",
    }
    # The event's payload, flattened as Zadig's flattenPayloadValue.
    assert values["payload.trigger.branch"] == "main"
    assert values["payload.trigger.pr"] == "7"
    assert values["payload.commits.0.id"] == "abc"
    # tidings' own names stay where Zadig's do not use them.
    assert values["task.id"] == "47" and values["workflow.display_name"] == "演示 工作流"
    assert values["project.display_name"] == "演示项目"


def test_run_variables_are_workflow_params_and_var():
    assert variables.params({"VERSION": "1.2"}) == {
        "workflow.params.VERSION": "1.2",
        "var.VERSION": "1.2",
    }


def test_names_no_task_can_have_are_named_when_loading():
    text = "{{.workflow.task.id}} {{.workflow.params.X}} {{.payload.a.b}} {{.job.build.output.K}}"
    assert variables.problems(text, ["build"]) == []
    (found,) = variables.problems("{{.workflow.nmae}}", ["build"])
    assert found.startswith("{{.workflow.nmae}}: unknown variable")
