"""The Play page's agents in headless Chromium, on the episodes benchmarks/behavior.py scores.

Serves the built book (``_build/html``, or ``--site``) on 127.0.0.1, opens the Play page in headless
Chromium, and has the page play the planning task's episodes (``rssm.planning.PlanningTask``, episode i
seeded by i, occluders on) with each driver through its own hook (``rssmPlay.episode(i)``,
``setDriver``, ``step()``, ``state()``): the ONNX graphs run in ONNX Runtime Web, the world in the
page's JavaScript, the planner's search in ``rssm/web/agents.js``. Success is the page's own
judgement, which is the task's (within 2 px of the goal after 30 actions).

    make book && python benchmarks/play_agents.py                   # episodes 0..99, actor and planner
    python benchmarks/play_agents.py --episodes 20 --drivers actor

One JSON line per driver, in benchmarks/behavior.py's format: agent, success, final_distance_px,
ms_per_action (the page's own time per decision: the actor's one graph call, the planner's whole
search), imagined_steps_per_action, episodes, occluders; plus where: "browser". Compare with
``python benchmarks/behavior.py --episodes N``, the same agents in PyTorch on the same episodes.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DRIVERS = ("actor", "planner")

# One episode per call, so that no call outlasts the browser driver's timeout.
PLAY = """
const [driver, index, done] = arguments;
(async () => {
  const p = window.rssmPlay;
  if (p.state().driver !== driver) await p.setDriver(driver);
  await p.episode(index);
  const ms = [];
  for (let t = 0; t < p.state().episode_steps; t++) {
    await p.step();
    ms.push(p.decision ? p.decision.ms : 0);
  }
  const s = p.state();
  return { success: s.success, distance: s.distance, ms: ms.reduce((a, b) => a + b, 0) / ms.length,
           imagined: s.imagined_steps_per_action, occluders: p.worldConfig.use_occlusion };
})().then(done, (error) => done({ error: String(error) }));
"""


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def chromium(profile: str):
    from selenium import webdriver  # in the dev extra
    from selenium.webdriver.chrome.service import Service

    binary = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        raise SystemExit("play_agents: needs chromium and chromedriver (scripts/ensure_browser.sh installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=100, help="episodes per driver, at most 100 (default 100)")
    parser.add_argument("--first_episode", type=int, default=0, help="the task's first episode number (default 0)")
    parser.add_argument("--drivers", nargs="+", default=list(DRIVERS), choices=DRIVERS, help="which drivers to play")
    parser.add_argument("--site", type=Path, default=ROOT / "_build" / "html", help="the built book (default _build/html)")
    args = parser.parse_args()
    if not 1 <= args.episodes or not 0 <= args.first_episode or args.first_episode + args.episodes > 100:
        parser.error(f"--first_episode {args.first_episode} and --episodes {args.episodes}: the page holds the "
                     "task's episodes 0..99")
    if not (args.site / "book" / "play.html").is_file():
        parser.error(f"--site {args.site}: no book/play.html there; build the book first (make book)")
    server, url = serve(args.site)
    with tempfile.TemporaryDirectory(prefix="rssm-play-bench-") as profile:
        browser = chromium(profile)
        try:
            browser.set_script_timeout(100)
            browser.get(f"{url}/book/play.html?paused&seed=0")
            for _ in range(600):
                status = browser.execute_script("return document.getElementById('rssm-play').dataset.status")
                if status:
                    break
                browser.implicitly_wait(0.1)
            if status != "ready":
                raise SystemExit(f"play_agents: the player did not start ({status})")
            for driver in args.drivers:
                results = []
                for index in range(args.first_episode, args.first_episode + args.episodes):
                    result = browser.execute_async_script(PLAY, driver, index)
                    if "error" in result:
                        raise SystemExit(f"play_agents: episode {index} failed in the page: {result['error']}")
                    results.append(result)
                print(json.dumps({
                    "agent": driver, "success": round(sum(r["success"] for r in results) / len(results), 3),
                    "final_distance_px": round(sum(r["distance"] for r in results) / len(results), 3),
                    "ms_per_action": round(sum(r["ms"] for r in results) / len(results), 3),
                    "imagined_steps_per_action": results[0]["imagined"], "episodes": len(results),
                    "occluders": results[0]["occluders"], "where": "browser",
                }), flush=True)
        finally:
            browser.quit()
            server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
