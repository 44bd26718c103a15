"""Open a Snakemake HTML report in headless Chromium and record what a reader sees.

The report is a React app: figures, captions and tables exist only after its scripts run, so a check of
the HTML file itself proves little. This drives a real Chromium through the DevTools protocol over
``--remote-debugging-pipe`` (JSON messages separated by NUL bytes on file descriptors 3 and 4), which
needs no websocket client and no extra Python package. It

* loads the report and waits for the landing page (the workflow description) to render,
* collects every uncaught exception, ``console.error``/``console.assert`` call and browser error log,
* for every result of the report opens its page the way a click in the menu does (an image in the main
  view, an HTML result in its frame) and its "Description" panel, and measures the rendered element,
* takes screenshots (the landing page, and one per result when asked).

Used by ``tests/test_report_browser.py`` and ``make report-check``; run by hand as
``python tests/report_browser.py results/quick/report.html --screenshots DIR``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
VIEWPORT = (1600, 1000)

# Runs in the page once the report has rendered. For each result it does what a click in the menu does
# (App.setView / App.showResultInfo are the report's own handlers) and reports what is on screen.
_INSPECT_JS = r"""
(async () => {
  const frame = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 30)));
  const until = async (cond, ms) => {
    const t0 = performance.now();
    while (performance.now() - t0 < ms) { const v = cond(); if (v) return v; await frame(); }
    return cond();
  };
  const box = el => { if (!el) return null; const b = el.getBoundingClientRect();
                      return {width: b.width, height: b.height}; };
  const visibleText = () => document.body.innerText;
  const out = {landing_text: visibleText(), landing_tables: [], results: {}};
  for (const t of document.querySelectorAll("table")) {
    out.landing_tables.push({rows: Array.from(t.rows).map(r => Array.from(r.cells).map(c => c.innerText.trim())),
                             box: box(t)});
  }
  for (const [path, entry] of Object.entries(results)) {
    const rec = {name: entry.name, mime: entry.mime_type, category: entry.category || null};
    app.showResultInfo(path);
    await frame();
    await until(() => /description/i.test(visibleText()), 2000);
    rec.info_text = visibleText();
    // the caption as the reader sees it: its text must be on screen in the result's info panel
    const tmp = document.createElement("div");
    tmp.innerHTML = entry.caption || "";
    const norm = t => t.replace(/\s+/g, " ").trim();
    rec.caption_text = norm(tmp.textContent);
    rec.caption_visible = rec.caption_text.length > 0 && norm(rec.info_text).includes(rec.caption_text.slice(0, 60));
    rec.info_tables = Array.from(document.querySelectorAll("table")).map(
        t => ({rows: t.rows.length, box: box(t)}));
    if (entry.mime_type.startsWith("image/")) {
      app.setView({content: "img", contentPath: entry.data_uri, resultPath: path});
      const img = await until(() => Array.from(document.images).find(i => i.src === entry.data_uri), 3000);
      if (img) {
        try { await img.decode(); } catch (e) { rec.decode_error = String(e); }
        rec.image = {natural_width: img.naturalWidth, natural_height: img.naturalHeight, box: box(img)};
      }
    }
    out.results[path] = rec;
  }
  return out;
})()
"""


# Runs inside an HTML result's frame (a data: URL, so the report page itself may not read it).
_FRAME_JS = r"""
new Promise(resolve => { const t0 = Date.now();
  (function poll() {
    if ((document.readyState === "complete" && document.body && document.body.innerText.length > 0)
        || Date.now() - t0 > 5000) {
      const box = el => { const b = el.getBoundingClientRect(); return {width: b.width, height: b.height}; };
      resolve({text: document.body ? document.body.innerText : null,
               tables: Array.from(document.querySelectorAll("table")).map(t => ({
                 rows: Array.from(t.rows).map(r => Array.from(r.cells).map(c => c.innerText.trim())),
                 box: box(t)}))});
    } else setTimeout(poll, 50);
  })(); })
"""


def find_chromium() -> str | None:
    """The Chromium executable (``$CHROMIUM`` or the first of the usual names on PATH), or None."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    pass


class Chromium:
    """A headless Chromium driven over the DevTools pipe (one page, flat sessions)."""

    def __init__(self, executable: str, timeout_s: float = 60.0):
        self.timeout_s = timeout_s
        self._profile = tempfile.mkdtemp(prefix="contlaws-chromium-")
        cmd_r, self._cmd_w = os.pipe()
        self._resp_r, resp_w = os.pipe()
        args = [
            "--headless",
            "--no-sandbox",  # CI runs as root, where Chromium refuses to start with its sandbox
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--hide-scrollbars",
            f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
            f"--user-data-dir={self._profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # The protocol pipe must be descriptors 3 (commands in) and 4 (replies out) of the browser (bash:
        # dash cannot redirect from a descriptor above 9).
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{cmd_r} 4>&{resp_w}', executable, *args],
            pass_fds=(cmd_r, resp_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        os.close(cmd_r)
        os.close(resp_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.session: str | None = None

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False, wait=False)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._cmd_w, self._resp_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read_message(self, deadline: float) -> dict:
        import select

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("timed out waiting for Chromium")
            ready, _, _ = select.select([self._resp_r], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._resp_r, 1 << 20)
            if not chunk:
                err = self.proc.stderr.read().decode(errors="replace")[-2000:] if self.proc.poll() is not None else ""
                raise BrowserError(f"Chromium closed the DevTools pipe (exit {self.proc.poll()}): {err}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, *, session: bool = True, wait: bool = True,
             timeout_s: float | None = None) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        if not wait:
            return {}
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, timeout_s: float | None = None) -> dict:
        for ev in self.events:
            if ev["method"] == method:
                return ev
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            ev = self._read_message(deadline)
            if "method" in ev:
                self.events.append(ev)
                if ev["method"] == method:
                    return ev

    def open_page(self) -> None:
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 1, "mobile": False})

    def navigate(self, url: str) -> None:
        self.events = [ev for ev in self.events if ev["method"] != "Page.loadEventFired"]
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str, timeout_s: float | None = None, context_id: int | None = None):
        params = {"expression": expression, "awaitPromise": True, "returnByValue": True}
        if context_id is not None:
            params["contextId"] = context_id
        reply = self.send("Runtime.evaluate", params, timeout_s=timeout_s)
        if "exceptionDetails" in reply:
            raise BrowserError(f"script failed in the page: {_exception_text(reply['exceptionDetails'])}")
        return reply["result"].get("value")

    def child_frame(self, url_prefix: str, timeout_s: float = 10.0) -> str:
        """The id of the (last) child frame of the page whose URL starts with ``url_prefix``."""
        deadline = time.monotonic() + timeout_s
        while True:
            tree = self.send("Page.getFrameTree")["frameTree"]
            frames = [c["frame"] for c in tree.get("childFrames", []) if c["frame"]["url"].startswith(url_prefix)]
            if frames:
                return frames[-1]["id"]
            if time.monotonic() > deadline:
                raise BrowserError(f"no frame showing {url_prefix}...")
            time.sleep(0.1)

    def screenshot(self, path: Path, full_page: bool = False) -> None:
        params: dict = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", params)["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def page_errors(self) -> list[str]:
        """Uncaught exceptions, console.error/assert calls and error-level browser log entries so far."""
        errors = []
        for ev in self.events:
            p = ev.get("params", {})
            if ev["method"] == "Runtime.exceptionThrown":
                errors.append("uncaught: " + _exception_text(p["exceptionDetails"]))
            elif ev["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                errors.append(f"console.{p['type']}: {text}")
            elif ev["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                entry = p["entry"]
                errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".strip())
        return errors


def _exception_text(details: dict) -> str:
    exc = details.get("exception") or {}
    return exc.get("description") or details.get("text", "unknown exception")


def inspect_report(report: Path, screenshots: Path | None = None, executable: str | None = None) -> dict:
    """What a reader sees in ``report``: landing-page text and tables, each result's rendered view, errors."""
    executable = executable or find_chromium()
    if not executable:
        raise BrowserError("no Chromium found (apt-get install chromium, or set CHROMIUM)")
    with Chromium(executable) as browser:
        browser.open_page()
        browser.navigate(Path(report).resolve().as_uri())
        # the landing page is rendered by React after load; wait for the workflow description
        browser.evaluate("""new Promise((resolve, reject) => { const t0 = Date.now();
            (function poll() { if (typeof app !== 'undefined' && document.querySelector('#app') &&
                                   document.querySelector('#app').innerText.length > 200) return resolve(true);
                               if (Date.now() - t0 > 20000) return reject(new Error('report did not render'));
                               setTimeout(poll, 50); })(); })""")
        if screenshots is not None:
            Path(screenshots).mkdir(parents=True, exist_ok=True)
            browser.screenshot(Path(screenshots) / "landing.png")
        seen = browser.evaluate(_INSPECT_JS, timeout_s=120)
        # An HTML result opens in a frame, as a click on it does; its content is read inside that frame.
        for path, rec in seen["results"].items():
            if rec["mime"] != "text/html":
                continue
            p = json.dumps(path)
            browser.evaluate(f"app.showResultInfo({p}); app.setView({{content: 'html', "
                             f"contentPath: results[{p}].data_uri, resultPath: {p}}}); "
                             "new Promise(r => setTimeout(r, 200))")
            frame_id = browser.child_frame("data:text/html")
            context = browser.send("Page.createIsolatedWorld", {"frameId": frame_id})["executionContextId"]
            rec["frame"] = browser.evaluate(_FRAME_JS, context_id=context)
            rec["frame"]["box"] = browser.evaluate(
                "(() => { const b = document.querySelector('iframe').getBoundingClientRect();"
                " return {width: b.width, height: b.height}; })()")
            if screenshots is not None:
                browser.screenshot(Path(screenshots) / f"{Path(rec['name']).stem}.png")
        seen["errors"] = browser.page_errors()
    return seen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("--screenshots", type=Path, help="folder for landing.png and claims.png (one per HTML result)")
    args = ap.parse_args(argv)
    seen = inspect_report(args.report, args.screenshots)
    summary = {
        "errors": seen["errors"],
        "landing_tables": [len(t["rows"]) for t in seen["landing_tables"]],
        "results": {p: {k: r.get(k) for k in ("name", "mime", "image")} for p, r in seen["results"].items()},
    }
    print(json.dumps(summary, indent=1))
    return 1 if seen["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
