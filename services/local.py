"""The local environment behind `make up` / `make down`.

    python -m services.local up      start Ray + Serve in the background, wait until ready, print how to call it
    python -m services.local down    stop what `up` started, by process id
    python -m services.local status  say whether it runs and where
    python -m services.local run     the foreground server `up` launches (Ctrl-C stops it)

Ray binds to 127.0.0.1 with the dashboard off (`--dashboard`, `make up DASHBOARD=1`: on, on 127.0.0.1 only);
the port meant for clients (8000, `RAMPART_PORT`)
is the application's own HTTP server (Serve's direct ingress); Serve's HTTP proxy listens on
another loopback port. State lives in `.rampart/` (git-ignored; `RAMPART_LOCAL_STATE_DIR` moves it): the
server's pid, the pids of the Ray processes it started, its base URL and its log. The tests start the same
application with the same functions (`start_ray`, `deploy`), see tests/fixtures/serve.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from platform_facts.project import DISPLAY_NAME, PROJECT_NAME, STATE_DIR_NAME, env_var
from services.config import serve_config
from services.local_progress import print_progress, relay_index_progress

__all__ = [
    "STATE_DIR",
    "deploy",
    "direct_ingress_url",
    "free_loopback_port",
    "main",
    "start_ray",
    "stop_ray",
    "with_port",
]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = Path(os.environ.get(env_var("LOCAL_STATE_DIR"), PROJECT_ROOT / STATE_DIR_NAME))
STATE_FILE = STATE_DIR / "serve.json"
LOG_FILE = STATE_DIR / "serve.log"
DEFAULT_PORT = 8000
READY_TIMEOUT_S = int(os.environ.get(env_var("READY_TIMEOUT_S"), "180"))
"""How long `up` waits for the first answer (models load; docs/ is indexed at first start): longer on a busy machine."""


def with_port(config: dict[str, Any], port: int) -> dict[str, Any]:
    """`config` with Serve's HTTP proxy on `port`, on loopback unless `RAMPART_BIND_HOST` says otherwise
    (the serving image sets 0.0.0.0: inside a container, loopback is unreachable from the host)."""
    host = os.environ.get(env_var("BIND_HOST"), "127.0.0.1")
    return {**config, "http_options": {**config["http_options"], "host": host, "port": port}}


# Serve's direct ingress: each application's Ingress replica serves HTTP itself (uvicorn in the
# replica), so a request skips the proxy process and the proxy -> replica hop: half the CPU per
# request here (docs/serving.md, "Performance"). Ports are handed out from the first one up, one
# per application, in the order they are deployed.
DIRECT_INGRESS_PORTS = 16


def start_ray(temp_dir: Path, direct_ingress_port: int | None = None, dashboard: bool = False) -> str | None:
    """Start a one-node Ray cluster in this process, state in `temp_dir`; returns the dashboard's URL, if on.

    The dashboard is off unless asked for: it costs about 1 GB of memory here, and whoever reaches it
    can submit jobs, i.e. run code (Ray's token, `~/.ray/auth_token`, guards its API). On, it listens
    on 127.0.0.1 only.

    With `direct_ingress_port`, Serve's direct ingress is on: the Ingress replica of each
    application listens on 127.0.0.1 from that port up (`direct_ingress_url` finds which), next
    to Serve's HTTP proxy on the config's port, which routes every application by prefix. Both
    bind 127.0.0.1 (`deploy`). Ray 2.60's own gRPC servers (GCS, raylet, workers) still listen on
    all interfaces and have no setting to change that; Ray's token authentication (on by
    default) guards them. See docs/serving.md.
    """
    import ray

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if direct_ingress_port is not None:
        # Read by the Serve controller and replicas, which inherit this process's environment.
        os.environ["RAY_SERVE_ENABLE_DIRECT_INGRESS"] = "1"
        os.environ["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"] = str(direct_ingress_port)
        os.environ["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"] = str(direct_ingress_port + DIRECT_INGRESS_PORTS - 1)
        # Nothing balances load across local replicas, so there is nothing to drain from on
        # shutdown (Serve's default waits 30 s, which `make down` would sit through).
        os.environ["RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"] = "0"
    context = ray.init(
        address="local",
        include_dashboard=dashboard,
        dashboard_host="127.0.0.1",
        _temp_dir=str(temp_dir),
        log_to_driver=False,
        configure_logging=False,
    )
    return f"http://{context.dashboard_url}" if dashboard and context.dashboard_url else None


def deploy(config: dict[str, Any]) -> str:
    """Start Serve and run every application of `config`; returns the base URL once all are RUNNING.

    `serve.run` returns only when the application's status is RUNNING, i.e. every replica's
    constructor (model loads, index build) has finished: readiness comes from Serve itself.
    """
    from ray import serve

    from services.app import bind_from_config

    http = config["http_options"]
    serve.start(http_options=http, proxy_location=config["proxy_location"])
    for application in config["applications"]:
        serve.run(bind_from_config(application), name=application["name"], route_prefix=application["route_prefix"])
    return f"http://{http['host']}:{http['port']}"


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def direct_ingress_url(first_port: int, route_prefix: str = "/") -> str | None:
    """Where the Ingress replica of the application at `route_prefix` serves directly, or None.

    A replica's direct server answers only its own application's routes, so the port that
    answers `<prefix>/livez` is that application's.
    """
    import httpx

    prefix = route_prefix.rstrip("/")
    for port in range(first_port, first_port + DIRECT_INGRESS_PORTS):
        try:
            if httpx.get(f"http://127.0.0.1:{port}{prefix}/livez", timeout=2).status_code == 200:
                return f"http://127.0.0.1:{port}{prefix}"
        except httpx.TransportError:
            continue
    return None


def stop_ray() -> None:
    """Shut Serve and Ray down (the processes this driver started go with it)."""
    import ray
    from ray import serve

    if ray.is_initialized():
        serve.shutdown()
        ray.shutdown()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _recorded_state() -> dict[str, Any] | None:
    """What `run` recorded in the state file, alive or not; None when there is no readable one."""
    try:
        state: dict[str, Any] = json.loads(STATE_FILE.read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):  # nothing runs from there
        return None
    return state


def _read_state() -> dict[str, Any] | None:
    state = _recorded_state()
    return state if state is not None and _alive(int(state["pid"])) else None


def _api_key(config: dict[str, Any]) -> str | None:
    """The local API key when the safety gateway is on (it checks keys), else None."""
    if config["applications"][0]["args"].get("gateway") is None:
        return None
    from services.gateway import local_api_key

    return str(local_api_key())


def _examples(base_url: str, config: dict[str, Any], dashboard_url: str | None = None) -> str:
    args = config["applications"][0]["args"]
    embedder, chat = args["embedder"]["model_name"], args["generator"]["model_name"]
    key = _api_key(config)
    if key is None:
        key_line = "API key:  none needed (the safety gateway is not enabled in this config)"
        header, openai_key, bentoml_token = "", "unused", ""
    else:
        key_line = f"API key:  {key}   (local-only dev key; the safety gateway checks it)"
        header, openai_key, bentoml_token = f" -H 'Authorization: Bearer {key}'", key, f', token="{key}"'
    return f"""
{DISPLAY_NAME} is serving at {base_url}
{key_line}

curl:
  curl -s {base_url}/v1/models{header}
  curl -s {base_url}/v1/embeddings{header} -H 'Content-Type: application/json' \\
       -d '{{"model": "{embedder}", "input": ["{DISPLAY_NAME} serves models on Ray Serve"]}}'
  curl -s {base_url}/v1/chat/completions{header} -H 'Content-Type: application/json' \\
       -d '{{"model": "{chat}", "messages": [{{"role": "user", "content": "What is the review queue?"}}]}}'
  curl -s {base_url}/v1/rag/query{header} -H 'Content-Type: application/json' -d '{{"query": "make up", "k": 3}}'

openai client (.venv/bin/python):
  from openai import OpenAI
  client = OpenAI(base_url="{base_url}/v1", api_key="{openai_key}")
  print(client.embeddings.create(model="{embedder}", input="hello").data[0].embedding[:4])
  question = {{"role": "user", "content": "What is the review queue?"}}
  print(client.chat.completions.create(model="{chat}", messages=[question]).choices[0].message.content)

BentoML client:
  import bentoml
  with bentoml.SyncHTTPClient("{base_url}"{bentoml_token}) as client:
      print(client.rag_query(query="make up", k=3))
{_pages(base_url, key is not None, dashboard_url)}
Stop it with: make down
"""


def _pages(base_url: str, gateway: bool, dashboard_url: str | None) -> str:
    """The pages to open in a browser: the gateway's (they ask for the API key) and Ray's dashboard, if on."""
    lines = []
    if gateway:
        lines += [f"  review queue:   {base_url}/v1/review/   (paste the API key into the page)",
                  f"  API reference:  {base_url}/v1/reference/"]
    if dashboard_url:
        lines.append(f"  Ray dashboard:  {dashboard_url}   (127.0.0.1 only; its token: .venv/bin/ray get-auth-token)")
    return "\nIn a browser:\n" + "\n".join(lines) + "\n" if lines else ""


def run(port: int, env: str, dashboard: bool = False) -> int:
    """Foreground server: start, record state, block until SIGTERM/SIGINT, then stop cleanly."""
    import psutil

    # Clients use `port`, where the application's Ingress replica serves directly; Serve's proxy,
    # which routes every application by prefix, takes any free loopback port.
    proxy_port = free_loopback_port()
    config = with_port(serve_config(env), proxy_port)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    temp_dir = Path(tempfile.mkdtemp(prefix=f"{PROJECT_NAME}-ray-", dir="/tmp"))
    stop = threading.Event()
    started = time.monotonic()
    print_progress(started, f"starting Ray on 127.0.0.1 ({'dashboard on 127.0.0.1' if dashboard else 'no dashboard'}, "
                            f"temp dir {temp_dir})")
    dashboard_url = start_ray(temp_dir, direct_ingress_port=port, dashboard=dashboard)
    # After ray.init, which installs a SIGTERM handler of its own that ends the process at once: `make down`'s
    # SIGTERM must reach this one, so Serve shuts down cleanly and Ray's session directory is removed.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print_progress(started, f"deploying the Serve application from serve-{env}.yaml (loading models, indexing docs/)")
    deployed = threading.Event()
    relay = threading.Thread(target=relay_index_progress, args=(temp_dir, started, deployed), daemon=True)
    relay.start()
    try:
        proxy_url = deploy(config)
    except Exception as error:  # report, then tear down what was started
        print(f"error: deployment failed: {error}", flush=True)
        stop_ray()
        shutil.rmtree(temp_dir, ignore_errors=True)
        return 1
    finally:
        deployed.set()
        relay.join(timeout=5)  # its last lines before `up`, which stops reading the log once the state file is written
    base_url = direct_ingress_url(port)
    if base_url != f"http://127.0.0.1:{port}":
        print(
            f"warning: port {port} is taken, so the application answers through Serve's proxy at {proxy_url} "
            f"(set {env_var('PORT')} to a free port for the faster direct path)",
            flush=True,
        )
        base_url = proxy_url
    # (pid, start time): `down` only kills a pid that still is the process Ray started.
    ray_pids = [[child.pid, child.create_time()] for child in psutil.Process().children(recursive=True)]
    state = {"pid": os.getpid(), "ray_pids": ray_pids, "base_url": base_url, "env": env, "temp_dir": str(temp_dir),
             "dashboard_url": dashboard_url}
    STATE_FILE.write_text(json.dumps(state))
    print_progress(started, f"ready at {base_url}")
    stop.wait()
    print("stopping Serve and Ray", flush=True)
    stop_ray()
    shutil.rmtree(temp_dir, ignore_errors=True)
    STATE_FILE.unlink(missing_ok=True)
    return 0


def up(port: int, env: str, dashboard: bool = False) -> int:
    """Start `run` in the background unless it already runs; wait for it with visible progress."""
    import subprocess

    import httpx

    if state := _read_state():
        print(f"{DISPLAY_NAME} is already running at {state['base_url']} (pid {state['pid']}); `make down` stops it.")
        return 0
    config = with_port(serve_config(env), port)
    try:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"error: cannot create the state directory {STATE_DIR}: {error.strerror} "
              f"({env_var('LOCAL_STATE_DIR')} moves it)")
        return 1
    STATE_FILE.unlink(missing_ok=True)
    started = time.monotonic()
    with LOG_FILE.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "services.local", "run", "--port", str(port), "--env", env,
             *(["--dashboard"] if dashboard else [])],
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    shown = 0
    while (state := _read_state()) is None:
        lines = LOG_FILE.read_text(errors="replace").splitlines()
        for line in lines[shown:]:
            if line.startswith("[") or line.startswith("error"):
                print(f"  {line}", flush=True)
        shown = len(lines)
        if server.poll() is not None:
            print(f"error: the server exited with status {server.returncode}; last lines of {LOG_FILE}:")
            print("\n".join(lines[-30:]))
            return 1
        if time.monotonic() - started > READY_TIMEOUT_S:
            print(
                f"error: not ready after {READY_TIMEOUT_S}s (set {env_var('READY_TIMEOUT_S')} to wait longer); "
                f"see {LOG_FILE}; stopping it"
            )
            # No state file yet, so `down` knows no pids: stop the server's session (it and the Ray it started).
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            return 1
        time.sleep(0.5)
    base_url = state["base_url"]
    embedder = config["applications"][0]["args"]["embedder"]["model_name"]
    key = _api_key(config)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(
        f"{base_url}/v1/embeddings", json={"model": embedder, "input": "ready?"}, headers=headers, timeout=60
    )
    response.raise_for_status()
    print(f"  first successful response after {time.monotonic() - started:.1f}s")
    print(_examples(base_url, config, state.get("dashboard_url")))
    return 0


def down() -> int:
    """Stop the server `up` started and any Ray process it left behind, by pid."""
    if (state := _recorded_state()) is None:
        print(f"{DISPLAY_NAME} is not running (no {STATE_FILE}).")
        return 0
    pid = int(state["pid"])
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    import psutil

    for ray_pid, started in state.get("ray_pids", []):
        try:
            if psutil.Process(ray_pid).create_time() == started:
                os.kill(ray_pid, signal.SIGKILL)
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass
    STATE_FILE.unlink(missing_ok=True)
    print(f"{DISPLAY_NAME} stopped (server pid {pid}).")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.local", description=f"Run {DISPLAY_NAME}'s services locally."
    )
    parser.add_argument("command", choices=("up", "down", "status", "run"))
    parser.add_argument("--port", type=int, default=int(os.environ.get(env_var("PORT"), DEFAULT_PORT)))
    parser.add_argument("--env", default="local", help="Serve config to use (services/config/serve-<env>.yaml)")
    parser.add_argument("--dashboard", action="store_true", help="start Ray's dashboard too, on 127.0.0.1 only")
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(args.port, args.env, args.dashboard)
    if args.command == "down":
        return down()
    if args.command == "run":
        return run(args.port, args.env, args.dashboard)
    state = _read_state()
    print(f"running at {state['base_url']} (pid {state['pid']})" if state else "not running")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
