#!/usr/bin/env python3
"""Drives the DLQ dashboard in headless Chromium over the DevTools protocol (started by DashboardBrowserTests).

Loads http://127.0.0.1:<port>/_sluice/dashboard, waits for it to render, checks the figures it shows against the
API's JSON, checks that markup inside an event stays text, pages with the cursor, filters by a signature, saves
screenshots at desktop (1280x800) and phone (390x844) widths, deletes one entry (accepting the confirmation) and
redrives another with clicks, and waits until the API no longer has either. With --user, the server's basic-auth
challenge is answered with those credentials. Exit status 0 when every check passed, 1 with the failures on stderr
otherwise. The last stdout line is a JSON summary. Loopback only: the browser resolves no other host.
"""
import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import websocket  # websocket-client, pinned in the Makefile's test-deps

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL: " + message, file=sys.stderr)
    return condition


class Browser:
    """One headless Chromium and one page, spoken to with CDP commands over the browser's WebSocket."""

    def __init__(self, chromium, profile, credentials=None):
        # Chromium's log goes to a file: a pipe nobody reads would fill and stall it.
        self.log_path = os.path.join(profile, "chromium.log")
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--user-data-dir=" + profile,
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
             "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
             "--no-proxy-server", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             "--hide-scrollbars", "--mute-audio", "--force-color-profile=srgb", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=self.log)
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.time() + 30
        while not os.path.exists(port_file) or len(open(port_file).read().split("\n")) < 2:
            if self.process.poll() is not None:
                raise RuntimeError("chromium exited with status %d: %s" % (
                    self.process.returncode, open(self.log_path, errors="replace").read()[-2000:]))
            if time.time() > deadline:
                raise RuntimeError("chromium did not open its DevTools port within 30 s")
            time.sleep(0.1)
        port, path = open(port_file).read().split("\n")[:2]
        self.ws = websocket.create_connection("ws://127.0.0.1:%s%s" % (port, path), timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events = []
        self.credentials = credentials
        self.auth_challenges = 0
        self.dialogs = []  # the messages of the confirm() dialogs accepted
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Runtime.enable", session=True)
        if credentials:
            # The browser answers the server's basic-auth challenge as if a user had typed the credentials.
            self.call("Fetch.enable", {"handleAuthRequests": True, "patterns": [{"urlPattern": "*"}]}, session=True)

    def send(self, method, params=None, session=False):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        return self.next_id

    def call(self, method, params=None, session=False):
        waiting = self.send(method, params, session)
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == waiting:
                if "error" in reply:
                    raise RuntimeError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
            if "id" in reply:
                continue  # the answer to a send() nobody waits for
            self.events.append(reply)
            event = reply.get("method")
            if event == "Fetch.requestPaused":
                self.send("Fetch.continueRequest", {"requestId": reply["params"]["requestId"]}, session=True)
            elif event == "Fetch.authRequired":
                self.auth_challenges += 1
                user, password = self.credentials
                self.send("Fetch.continueWithAuth", {"requestId": reply["params"]["requestId"], "authChallengeResponse": {
                    "response": "ProvideCredentials", "username": user, "password": password}}, session=True)
            elif event == "Page.javascriptDialogOpening":
                # The page asks before it deletes: the user says yes.
                self.dialogs.append(reply["params"].get("message", ""))
                self.send("Page.handleJavaScriptDialog", {"accept": True}, session=True)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                           session=True)
        if "exceptionDetails" in result:
            raise RuntimeError("script failed: %s" % json.dumps(result["exceptionDetails"])[:500])
        return result["result"].get("value")

    def wait_for(self, expression, what, seconds=20):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.evaluate(expression):
                return True
            time.sleep(0.1)
        check(False, "timed out waiting for " + what)
        return False

    def viewport(self, width, height, mobile, scale):
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile}, session=True)

    def screenshot(self, path, full_page=False):
        params = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
            params.update({"captureBeyondViewport": True,
                           "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
        data = self.call("Page.captureScreenshot", params, session=True)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        print("screenshot: " + path)

    def click(self, selector):
        """A real mouse click (pressed and released) in the middle of the element, scrolled into view first."""
        box = self.evaluate(
            "(() => { const e = document.querySelector(%s); if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
            % json.dumps(selector))
        if not check(box is not None, "nothing to click at " + selector):
            return False
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent",
                      {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1}, session=True)
        return True

    def close(self):
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.log.close()
            check(self.process.returncode in (0, -15), "chromium ended with status %d" % self.process.returncode)


AUTHORIZATION = {}


def api(base, path, method="GET"):
    request = urllib.request.Request(base + path, method=method, headers=dict({"sluice-xsrf": "test"}, **AUTHORIZATION))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None


def digits(text):
    return int("".join(c for c in text or "" if c.isdigit()) or "-1")


# Everything the page shows, read from the DOM.
READ_PAGE = """(() => ({
  cards: [...document.querySelectorAll('[data-pipeline]')].map(c => ({
    id: c.dataset.pipeline,
    entries: c.querySelector('[data-field=entries]').textContent,
    status: c.querySelector('[data-field=status]').textContent,
    bars: c.querySelectorAll('.timeline rect').length,
    signatures: [...c.querySelectorAll('[data-signature]')].map(s => ({
      id: s.dataset.signature, count: s.querySelector('.count').textContent })),
  })),
  rows: [...document.querySelectorAll('tr.entry')].map(r => ({ id: r.dataset.id, signature: r.dataset.signature })),
  page: document.getElementById('page-label').textContent,
  loads: Number(document.body.dataset.pageLoads || 0),
  width: document.documentElement.scrollWidth,
}))()"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="http://127.0.0.1:<port>")
    parser.add_argument("--pipeline", default="main")
    parser.add_argument("--out", required=True, help="directory for the screenshots")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    parser.add_argument("--user", help="basic auth: the browser is given these credentials when the server asks")
    parser.add_argument("--password")
    args = parser.parse_args()
    if not args.base.startswith("http://127.0.0.1:"):
        print("loopback only: --base must be http://127.0.0.1:<port>", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="sluice-dashboard-chromium-")
    credentials = (args.user, args.password) if args.user else None
    if credentials:
        check(api(args.base, "/_sluice/dlq")[0] == 401, "the API refuses a request without credentials")
        token = base64.b64encode(("%s:%s" % credentials).encode()).decode()
        AUTHORIZATION["Authorization"] = "Basic " + token
    browser = Browser(args.chromium, profile, credentials)
    summary = {}
    try:
        status, stats = api(args.base, "/_sluice/dlq/" + args.pipeline)
        check(status == 200, "GET /_sluice/dlq/%s answered %s" % (args.pipeline, status))
        entries = stats["entries"]
        signatures = [s for s in stats["signatures"] if s["id"] != "other"]
        check(len(signatures) >= 2, "the DLQ holds at least two signatures (%d)" % len(signatures))

        browser.viewport(1280, 800, False, 1)
        browser.call("Page.navigate", {"url": args.base + "/_sluice/dashboard"}, session=True)
        browser.wait_for("document.body && document.body.dataset.ready === '1' && document.body.dataset.pageLoads >= 1",
                         "the dashboard to render")
        page = browser.evaluate(READ_PAGE)
        card = next((c for c in page["cards"] if c["id"] == args.pipeline), None)
        if check(card is not None, "the page shows pipeline " + args.pipeline):
            check(digits(card["entries"]) == entries, "entries shown %r, API %d" % (card["entries"], entries))
            check(card["status"] == stats["status"], "status shown %r, API %r" % (card["status"], stats["status"]))
            shown = {s["id"]: digits(s["count"]) for s in card["signatures"]}
            for s in stats["signatures"][:5]:
                check(shown.get(s["id"]) == s["count"],
                      "signature %s: shown %r, API %d" % (s["id"], shown.get(s["id"]), s["count"]))
            nonzero = sum(1 for n in stats["timeline"]["counts"] if n > 0)
            check(card["bars"] == nonzero, "timeline bars %d, API non-empty buckets %d" % (card["bars"], nonzero))
        first_page = [r["id"] for r in page["rows"]]
        check(len(first_page) == min(entries, 20), "first page rows %d of %d entries" % (len(first_page), entries))
        _, api_page = api(args.base, "/_sluice/dlq/%s/entries?size=20" % args.pipeline)
        check(first_page == [e["id"] for e in api_page["entries"]], "the first page lists the API's first 20 entries")

        # Open the first entry: its event appears as JSON, and markup in it stays text.
        browser.click("tr.entry")
        browser.wait_for("!!document.querySelector('tr.detail:not([hidden]) pre.event')", "the opened entry's event")
        shown_event = json.loads(browser.evaluate("document.querySelector('tr.detail:not([hidden]) pre.event').textContent"))
        _, full = api(args.base, "/_sluice/dlq/%s/entries/%s" % (args.pipeline, first_page[0]))
        check(shown_event == full["event"], "the opened entry shows the API's event")
        if "html" in full["event"]:
            check(browser.evaluate("document.getElementById('injected') === null"), "markup in an event is not parsed")
        browser.evaluate("window.scrollTo(0, 0)")
        browser.screenshot(os.path.join(args.out, "dashboard-desktop.png"))
        browser.screenshot(os.path.join(args.out, "dashboard-desktop-full.png"), full_page=True)

        # The cursor: the next page continues after the first.
        if entries > 20:
            loads = page["loads"]
            browser.click("#next")
            browser.wait_for("Number(document.body.dataset.pageLoads) > %d" % loads, "the next page")
            second = browser.evaluate(READ_PAGE)
            second_ids = [r["id"] for r in second["rows"]]
            check(len(second_ids) == min(entries - 20, 20), "second page rows %d" % len(second_ids))
            check(not set(second_ids) & set(first_page), "the second page repeats no entry of the first")
            check(second["page"] == "Page 2", "page label %r" % second["page"])

        # A signature filters the browser.
        target = signatures[1]
        loads = browser.evaluate("Number(document.body.dataset.pageLoads)")
        browser.click("[data-pipeline=%s] [data-signature='%s'] button.sig" % (json.dumps(args.pipeline), target["id"]))
        browser.wait_for("Number(document.body.dataset.pageLoads) > %d" % loads, "the filtered page")
        filtered = browser.evaluate(READ_PAGE)["rows"]
        check(len(filtered) == min(target["count"], 20), "filtered rows %d, signature count %d" % (len(filtered), target["count"]))
        check(all(r["signature"] == target["id"] for r in filtered), "every filtered row has signature " + target["id"])

        browser.viewport(390, 844, True, 2)
        time.sleep(0.3)
        narrow_width = browser.evaluate("document.documentElement.scrollWidth")
        check(narrow_width <= 390, "no horizontal scrolling at 390 px (content is %d px wide)" % narrow_width)
        browser.evaluate("window.scrollTo(0, 0)")
        browser.screenshot(os.path.join(args.out, "dashboard-narrow.png"))
        browser.screenshot(os.path.join(args.out, "dashboard-narrow-full.png"), full_page=True)

        # Delete one entry from the page, after its confirmation dialog.
        deleted = filtered[1]["id"]
        loads = browser.evaluate("Number(document.body.dataset.pageLoads)")
        browser.click("tr.entry[data-id='%s'] button.delete" % deleted)
        # The page reads the queue again at once and 1.5 s later: wait for both, so the rows stay put for the next click.
        browser.wait_for("Number(document.body.dataset.pageLoads) >= %d" % (loads + 2), "the page after the deletion")
        check(any(deleted in m for m in browser.dialogs), "the page asked before deleting %s: %r" % (deleted, browser.dialogs))
        check(api(args.base, "/_sluice/dlq/%s/entries/%s" % (args.pipeline, deleted))[0] == 404, "entry %s is deleted" % deleted)
        check(browser.evaluate("!document.querySelector(\"tr.entry[data-id='%s']\")" % deleted), "the deleted row is gone")

        # Redrive one entry from the page; the API loses it once its event went through the pipeline.
        victim = filtered[0]["id"]
        browser.click("tr.entry[data-id='%s'] button.redrive" % victim)
        deadline, gone = time.time() + 30, False
        while time.time() < deadline and not gone:
            gone = api(args.base, "/_sluice/dlq/%s/entries/%s" % (args.pipeline, victim))[0] == 404
            browser.evaluate("0")  # reads the browser's events: with auth on, its paused requests wait for this
            time.sleep(0.2)
        check(gone, "entry %s is gone after Redrive" % victim)
        browser.wait_for("document.getElementById('toast').textContent.includes(%s)" % json.dumps(victim), "the redrive toast")
        # The archive: the card's "Browse archive" lists what the API lists with ?archive=true.
        _, archived = api(args.base, "/_sluice/dlq/%s/entries?size=20&archive=true" % args.pipeline)
        check(len(archived["entries"]) > 0, "the test's archive holds entries")
        loads = browser.evaluate("Number(document.body.dataset.pageLoads)")
        browser.click("[data-pipeline=%s] button.archive" % json.dumps(args.pipeline))
        # A refresh still under way from the redrive may draw once more after the click: wait for the archive's rows.
        browser.wait_for("Number(document.body.dataset.pageLoads) > %d && document.getElementById('entries').dataset.view === 'archive'"
                         % loads, "the archive page")
        shown = browser.evaluate(READ_PAGE)["rows"]
        check([r["id"] for r in shown] == [e["id"] for e in archived["entries"]],
              "the archive view lists the API's archive: shown %r, API %r, title %r"
              % ([r["id"] for r in shown], [e["id"] for e in archived["entries"]],
                 browser.evaluate("document.getElementById('browser-title').textContent")))
        title = browser.evaluate("document.getElementById('browser-title').textContent")
        check(title == "Archive of " + args.pipeline, "archive title %r" % title)
        if credentials:
            check(browser.auth_challenges >= 1, "the server asked the browser for its credentials")
        summary = {"redriven": victim, "deleted": deleted, "entries_before": entries, "signatures": len(signatures),
                   "auth_challenges": browser.auth_challenges}
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)
    print(json.dumps(summary))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
