"""The fake OpenAI-compatible upstream: nginx answering fixed bodies.

nginx (one worker process, no master, in the foreground, config generated
into the run's temp dir) is far faster than any Python gateway in front of
it, so it never becomes the bottleneck:

* ``POST /v1/chat/completions`` answers a fixed ``chat.completion`` JSON;
* the same path with ``Accept: text/event-stream`` (what tandem's OpenAI
  provider sends when it streams) is internally redirected to a fixed SSE
  stream. With nginx's echo module (Debian ``libnginx-mod-http-echo``) the
  stream is paced like a real model: the first chunk at once, then one
  chunk every ``interval`` (so that 256 streams are really open at the same
  time); without the module the whole stream is sent at once.
* ``GET /v1/models`` lists the models, for gateways that probe it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.load.procs import Proc, start, wait_port

__all__ = ["ECHO_MODULE", "Upstream", "chat_completion", "nginx_version", "sse_stream", "start_nginx"]

ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
UPSTREAM_MODEL = "bench-upstream"


def chat_completion() -> bytes:
    """The fixed non-streamed reply (the size of a short real answer)."""
    reply = {
        "id": "chatcmpl-bench0000000000000000000000",
        "object": "chat.completion",
        "created": 1735689600,
        "model": UPSTREAM_MODEL,
        "system_fingerprint": "fp_bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! How can I help you today?", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 19, "completion_tokens": 9, "total_tokens": 28},
    }
    return json.dumps(reply, separators=(",", ":")).encode()


def sse_stream(chunks: int) -> list[bytes]:
    """The fixed stream: ``chunks`` content deltas, a finish chunk, usage, [DONE]."""

    def event(choices: list[dict[str, object]], usage: dict[str, int] | None = None) -> bytes:
        body: dict[str, object] = {
            "id": "chatcmpl-bench0000000000000000000000",
            "object": "chat.completion.chunk",
            "created": 1735689600,
            "model": UPSTREAM_MODEL,
            "choices": choices,
        }
        if usage is not None:
            body["usage"] = usage
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

    words = [f" word{i}" for i in range(chunks)]
    events = [event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
    events += [event([{"index": 0, "delta": {"content": w}, "finish_reason": None}]) for w in words]
    events.append(event([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    events.append(event([], {"prompt_tokens": 19, "completion_tokens": chunks, "total_tokens": 19 + chunks}))
    events.append(b"data: [DONE]\n\n")
    return events


def _quote(data: bytes) -> str:
    """``data`` as an nginx double-quoted string (no variables inside)."""
    text = data.decode()
    if "$" in text:
        raise ValueError("nginx would expand '$' in a fixed body")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _sse_location(events: list[bytes], interval_s: float, paced: bool, body_file: Path) -> str:
    if not paced:
        # A whole stream is longer than one nginx config token may be (4 KB),
        # so it is served from a file. The static handler refuses POST with
        # 405; error_page turns that into an internal GET of the same file.
        return f"            alias {body_file};\n            error_page 405 =200 /_bench_sse_file;"
    # First event (role) and first word at once, then one event per interval.
    lines = [f"            echo -n {_quote(events[0] + events[1])};", "            echo_flush;"]
    pad = " " * 12
    for ev in events[2:-3]:
        lines += [f"{pad}echo_sleep {interval_s:.3f};", f"{pad}echo -n {_quote(ev)};", f"{pad}echo_flush;"]
    lines += [f"            echo_sleep {interval_s:.3f};", f"            echo -n {_quote(b''.join(events[-3:]))};"]
    return "\n".join(lines)


def nginx_config(workdir: Path, port: int, stream_chunks: int, interval_s: float, paced: bool) -> str:
    """The whole nginx.conf for the fake upstream (unpaced, the stream's body
    is written to ``workdir/bench-sse.txt``)."""
    body_file = workdir / "bench-sse.txt"
    events = sse_stream(stream_chunks)
    if not paced:
        body_file.write_bytes(b"".join(events))
    models = {
        "object": "list",
        "data": [{"id": UPSTREAM_MODEL, "object": "model", "created": 1735689600, "owned_by": "bench"}],
    }
    load = f"load_module {ECHO_MODULE};\n" if paced else ""
    temp = "\n".join(
        f"    {kind}_temp_path {workdir}/nginx-{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{load}daemon off;
master_process off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{
    worker_connections 16384;
    multi_accept on;
}}
http {{
    access_log off;
{temp}
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_buffer_size 1m;
    client_max_body_size 16m;
    server_tokens off;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /v1/chat/completions {{
            if ($http_accept ~* "text/event-stream") {{
                rewrite ^ /_bench_sse last;
            }}
            default_type application/json;
            return 200 {_quote(chat_completion())};
        }}
        location = /_bench_sse {{
            internal;
            default_type text/event-stream;
{_sse_location(events, interval_s, paced, body_file)}
        }}
        location = /_bench_sse_file {{
            internal;
            default_type text/event-stream;
            alias {body_file};
        }}
        location = /v1/models {{
            default_type application/json;
            return 200 {_quote(json.dumps(models, separators=(",", ":")).encode())};
        }}
        location / {{
            default_type application/json;
            return 404 '{{"error":{{"message":"not found","type":"invalid_request_error"}}}}';
        }}
    }}
}}
"""


@dataclass
class Upstream:
    """A running fake upstream."""

    proc: Proc
    port: int
    paced: bool
    stream_chunks: int
    interval_s: float

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``.../v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_url(self) -> str:
        """The chat completions URL."""
        return self.base_url + "/chat/completions"


def nginx_version() -> str:
    """``nginx/1.22.1`` or ``not installed``."""
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    try:
        out = subprocess.run([exe, "-v"], capture_output=True, text=True, check=False).stderr
    except OSError:
        return "not installed"
    return out.strip().split(":", 1)[-1].strip() or "unknown"


def start_nginx(workdir: Path, port: int, *, cpus: str | None, stream_chunks: int, interval_s: float) -> Upstream:
    """Write the config and start nginx in the foreground on ``port``."""
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(exe).exists():
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    paced = ECHO_MODULE.exists()
    conf = workdir / "nginx.conf"
    conf.write_text(nginx_config(workdir, port, stream_chunks, interval_s, paced))
    check = subprocess.run([exe, "-t", "-q", "-c", str(conf), "-p", str(workdir)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx rejected the generated config:\n{check.stderr}")
    proc = start("nginx", [exe, "-c", str(conf), "-p", str(workdir)], workdir, cpus=cpus)
    wait_port(proc, port, 10)
    return Upstream(proc, port, paced, stream_chunks, interval_s)
