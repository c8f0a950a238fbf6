"""A page opened in headless chromium, driven over the DevTools protocol on a pipe (no network port,
no websocket library): console messages, exceptions and log errors are collected, the DOM is
queried, and a full-page screenshot is taken.

    python tests/validation/browser.py <page.html> <screenshot.png>   # prints what the test checks
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
    "--disable-component-update", "--disable-sync", "--remote-debugging-pipe", "--hide-scrollbars",
)  # fmt: skip


def find_chromium() -> str | None:
    """The chromium executable on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageCheck:
    """What the browser saw."""

    errors: list[str] = field(default_factory=list)
    decision: str = ""
    images: int = 0
    images_loaded: int = 0
    title: str = ""


class _Pipe:
    def __init__(self, proc: subprocess.Popen[bytes], write_fd: int, read_fd: int) -> None:
        self.proc, self.write_fd, self.read_fd = proc, write_fd, read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.read_fd, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium closed the pipe (exit code {self.proc.poll()})")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(self, method: str, session: str | None = None, timeout: float = 60.0, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 60.0) -> dict[str, Any]:
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if message.get("method") == method:
                return message
            self.events.append(message)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            out.append("exception: " + str(params["exceptionDetails"].get("exception", {}).get("description", "")))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            out.append(f"log ({params['entry']['source']}): {params['entry']['text']}")
    return out


def open_page(page: Path, screenshot: Path, chromium: str, width: int = 1200) -> PageCheck:
    """Loads ``page`` in headless chromium (fresh profile), checks it and saves a full-page screenshot."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()

    def child_fds() -> None:  # chromium reads commands on fd 3 and writes replies on fd 4
        high_r, high_w = os.dup(to_browser_r), os.dup(from_browser_w)  # neither can be clobbered below
        os.dup2(high_r, 3)
        os.dup2(high_w, 4)
        os.set_inheritable(3, True)  # dup2 onto itself would keep Python's close-on-exec flag
        os.set_inheritable(4, True)

    proc = subprocess.Popen(
        [chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        close_fds=False, preexec_fn=child_fds,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(to_browser_r)
    os.close(from_browser_w)
    pipe = _Pipe(proc, to_browser_w, from_browser_r)
    try:
        target = pipe.call("Target.createTarget", url="about:blank")["targetId"]
        session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            pipe.call(f"{domain}.enable", session)
        pipe.call("Emulation.setDeviceMetricsOverride", session, width=width, height=900, deviceScaleFactor=1,
                  mobile=False)  # fmt: skip
        pipe.call("Page.navigate", session, url=page.resolve().as_uri())
        pipe.wait_event("Page.loadEventFired")
        script = ("JSON.stringify({title: document.title, decision: (document.getElementById('decision') || {})"
                  ".textContent || '', images: document.images.length, loaded: Array.from(document.images)"
                  ".filter(i => i.complete && i.naturalWidth > 0).length})")  # fmt: skip
        seen = json.loads(pipe.call("Runtime.evaluate", session, expression=script)["result"]["value"])
        shot = pipe.call("Page.captureScreenshot", session, format="png", captureBeyondViewport=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        time.sleep(0.2)  # let late log entries arrive
        pipe.call("Runtime.evaluate", session, expression="1")
        check = PageCheck(_errors(pipe.events), seen["decision"], seen["images"], seen["loaded"], seen["title"])
        with contextlib.suppress(RuntimeError, TimeoutError):
            pipe.call("Browser.close", timeout=10)
        return check
    finally:
        os.close(to_browser_w)
        os.close(from_browser_r)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    exe = find_chromium()
    if exe is None:
        sys.exit("chromium is not installed (run .ci/install-chromium)")
    print(open_page(Path(sys.argv[1]), Path(sys.argv[2]), exe))
