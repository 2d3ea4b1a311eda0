"""An MCP client for cordon's end-to-end tests, written with the official
Python SDK (`mcp` on PyPI, 2.x): starts `cordon mcp-server` over stdio,
runs the steps read as JSON from stdin, prints what happened as JSON.

Input: {"server": {"command", "args", "env", "cwd"},
        "elicit": null | [{"action": "accept"|"decline"|"cancel", "decision": ...}, ...],
        "steps": [step, ...]}
A step: {"op": "list"}
      | {"op": "call", "tool", "arguments", "progress": bool,
         "cancel_on": "text of a progress or log line that cancels the call"}
      | {"op": "parallel", "calls": [call step, ...]}
      | {"op": "call_reply", "prompt", "from": index of an earlier result} (threadId from it)
Output: {"capabilities", "results": [...], "elicitations": [...], "logs": [...]}.
"""

import json
import sys

import anyio
import mcp.types as types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def dump_result(result, progress):
    if result is None:
        return {"cancelled": True, "progress": progress}
    return {
        "isError": bool(result.is_error),
        "text": "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text"),
        "structured": result.structured_content,
        "progress": progress,
    }


def running(marker):
    """Whether a process's argv holds `marker` (a list of arguments) in a row."""
    import os

    n = len(marker)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0")]
        except OSError:
            continue
        if any(argv[i : i + n] == marker for i in range(len(argv))):
            return True
    return False


async def wait_proc(marker, present, seconds=10):
    """Waits until a process with `marker` exists (present) or none does."""
    with anyio.move_on_after(seconds):
        while running(marker) != present:
            await anyio.sleep(0.05)
        return True
    return False


async def main():
    spec = json.load(sys.stdin)
    out = {"results": [], "elicitations": [], "logs": []}
    answers = spec.get("elicit")
    lines = []  # (text) of every progress and log line, for cancel_on
    watchers = []  # [(needle, cancel scope)]

    def heard(text):
        lines.append(text)
        for needle, event in list(watchers):
            if needle in text:
                event.set()

    async def on_elicit(context, params):
        out["elicitations"].append(
            {"message": params.message, "requestedSchema": params.requested_schema}
        )
        answer = answers.pop(0) if answers else {"action": "decline"}
        content = {"decision": answer["decision"]} if "decision" in answer else None
        return types.ElicitResult(action=answer["action"], content=content)

    async def on_log(params):
        out["logs"].append({"level": params.level, "data": params.data})
        heard(str(params.data))

    server = StdioServerParameters(**spec["server"])
    async with stdio_client(server) as (read, write):
        async with ClientSession(
            read,
            write,
            elicitation_callback=on_elicit if answers is not None else None,
            logging_callback=on_log,
        ) as session:
            init = await session.initialize()
            out["capabilities"] = init.capabilities.model_dump(exclude_none=True)

            async def call(step):
                progress = []
                result = None
                info = {}

                async def on_progress(value, total, message):
                    progress.append({"progress": value, "message": message})
                    heard(message or "")

                async with anyio.create_task_group() as tg:

                    async def run():
                        nonlocal result
                        result = await session.call_tool(
                            step["tool"],
                            step.get("arguments", {}),
                            read_timeout_seconds=120,
                            progress_callback=on_progress if step.get("progress") else None,
                        )
                        tg.cancel_scope.cancel()

                    if step.get("cancel_on"):
                        event = anyio.Event()
                        watchers.append((step["cancel_on"], event))

                        async def canceller():
                            await event.wait()
                            if step.get("cancel_when_running"):
                                info["seen_running"] = await wait_proc(step["cancel_when_running"], True)
                            tg.cancel_scope.cancel()

                        tg.start_soon(canceller)
                    tg.start_soon(run)
                dumped = dump_result(result, progress)
                dumped.update(info)
                return dumped

            for step in spec["steps"]:
                if step["op"] == "list":
                    tools = await session.list_tools()
                    out["tools"] = [t.model_dump(by_alias=True, exclude_none=True) for t in tools.tools]
                elif step["op"] == "call":
                    out["results"].append(await call(step))
                elif step["op"] == "call_reply":
                    thread = out["results"][step["from"]]["structured"]["threadId"]
                    out["results"].append(
                        await call(
                            {
                                "tool": "cordon-reply",
                                "arguments": {"threadId": thread, "prompt": step["prompt"]},
                                "progress": step.get("progress", False),
                            }
                        )
                    )
                elif step["op"] == "parallel":
                    done = [None] * len(step["calls"])

                    async def one(i, s):
                        done[i] = await call(s)

                    async with anyio.create_task_group() as tg:
                        for i, s in enumerate(step["calls"]):
                            tg.start_soon(one, i, s)
                    out["results"].extend(done)
                elif step["op"] == "wait_gone":
                    out["gone"] = await wait_proc(step["marker"], False)
    print(json.dumps(out))


anyio.run(main)
