"""Wire-protocol promises of the kernel, checked against the real kernel process.

Bad signatures and malformed frames are sent on raw ZeroMQ sockets; because the shell channel
handles requests in order, "the first reply we get answers the valid request sent after the bad
one" proves the bad one was dropped without a reply, and that the kernel is still serving.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import queue
import re
import time
import uuid

import pytest
import zmq
from jupyter_client.session import Session

from conftest import descendants, run_cell

REPLY_TIMEOUT = 60


# ---------------------------------------------------------------- raw sockets


def connection(km) -> dict:
    with open(km.connection_file) as f:
        return json.load(f)


def endpoint(info: dict, port_name: str) -> str:
    if info.get("transport", "tcp") == "ipc":
        return f"ipc://{info['ip']}-{info[port_name]}"
    return f"tcp://{info['ip']}:{info[port_name]}"


class RawClient:
    """A DEALER socket on one kernel channel plus a Session that signs with the kernel's key."""

    def __init__(self, km, port_name: str = "shell_port"):
        self.info = connection(km)
        self.session = Session(key=self.info["key"].encode(), signature_scheme=self.info["signature_scheme"])
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.connect(endpoint(self.info, port_name))

    def frames(self, msg_type: str, content: dict | None = None) -> tuple[str, list[bytes]]:
        """Correctly signed frames of a new request (after the delimiter): msg_id, frames."""
        msg = self.session.msg(msg_type, content or {})
        return msg["header"]["msg_id"], self.session.serialize(msg)

    def send_raw(self, frames: list[bytes]) -> None:
        self.sock.send_multipart(frames)

    def recv(self, timeout: float = REPLY_TIMEOUT) -> dict:
        if not self.sock.poll(int(timeout * 1000)):
            raise TimeoutError("no reply from the kernel")
        _, msg = self.session.feed_identities(self.sock.recv_multipart())
        return self.session.deserialize(msg)

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()


@pytest.fixture
def raw_shell(kernel):
    km, _ = kernel
    client = RawClient(km)
    yield client
    client.close()


def reply_to(kc, msg_id: str, timeout: float = REPLY_TIMEOUT) -> dict:
    """The shell reply to ``msg_id`` (replies to earlier requests, e.g. start-up kernel_info, skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


def assert_first_reply_answers(client: RawClient, msg_id: str) -> dict:
    reply = client.recv()
    assert reply["parent_header"]["msg_id"] == msg_id, (
        f"a dropped message was answered: got a reply to {reply['parent_header'].get('msg_id')} "
        f"({reply['msg_type']}) before the reply to the valid request"
    )
    return reply


# ---------------------------------------------------------------- signatures and malformed frames


def test_wrongly_signed_message_is_dropped_and_kernel_keeps_serving(raw_shell):
    wrong = Session(key=b"not-the-kernel-key")
    bad = wrong.msg("kernel_info_request", {})
    raw_shell.send_raw(wrong.serialize(bad))
    unsigned = Session(key=b"")
    raw_shell.send_raw(unsigned.serialize(unsigned.msg("kernel_info_request", {})))
    msg_id, frames = raw_shell.frames("kernel_info_request")
    raw_shell.send_raw(frames)
    reply = assert_first_reply_answers(raw_shell, msg_id)
    assert reply["msg_type"] == "kernel_info_reply"
    assert reply["content"]["status"] == "ok"


def test_tampered_content_is_dropped(raw_shell):
    msg_id_bad, frames = raw_shell.frames("execute_request", {"code": "println!(\"signed\");", "silent": True})
    # Keep the signature, change the signed content.
    frames[-1] = json.dumps({"code": "println!(\"tampered\");", "silent": True}).encode()
    raw_shell.send_raw(frames)
    msg_id, good = raw_shell.frames("kernel_info_request")
    raw_shell.send_raw(good)
    assert_first_reply_answers(raw_shell, msg_id)


def test_replayed_message_is_dropped(raw_shell):
    msg_id, frames = raw_shell.frames("kernel_info_request")
    raw_shell.send_raw(frames)
    assert_first_reply_answers(raw_shell, msg_id)
    raw_shell.send_raw(frames)  # the same signed message again
    msg_id2, good = raw_shell.frames("kernel_info_request")
    raw_shell.send_raw(good)
    assert_first_reply_answers(raw_shell, msg_id2)


def _signed(session: Session, parts: list[bytes]) -> list[bytes]:
    return [b"<IDS|MSG>", session.sign(parts)] + parts


@pytest.mark.parametrize(
    "case",
    [
        "garbage",
        "no_delimiter",
        "missing_parts",
        "invalid_json_header",
        "invalid_json_content",
        "header_without_fields",
        "content_not_object",
        "non_utf8",
    ],
)
def test_malformed_message_is_dropped(raw_shell, case):
    s = raw_shell.session
    header = s.pack(s.msg_header("kernel_info_request"))
    frames = {
        "garbage": [os.urandom(64)],
        "no_delimiter": [b"abc", b"def", header, b"{}", b"{}", b"{}"],
        "missing_parts": [b"<IDS|MSG>", s.sign([header, b"{}"]), header, b"{}"],
        "invalid_json_header": _signed(s, [b"{not json", b"{}", b"{}", b"{}"]),
        "invalid_json_content": _signed(s, [header, b"{}", b"{}", b"{\"code\": "]),
        "header_without_fields": _signed(s, [b'{"msg_type": "kernel_info_request"}', b"{}", b"{}", b"{}"]),
        "content_not_object": _signed(s, [header, b"{}", b"{}", b"[1, 2]"]),
        "non_utf8": _signed(s, [header, b"{}", b"{}", b"\xff\xfe\xfd"]),
    }[case]
    raw_shell.send_raw(frames)
    msg_id, good = raw_shell.frames("kernel_info_request")
    raw_shell.send_raw(good)
    assert_first_reply_answers(raw_shell, msg_id)


def test_wrongly_signed_control_message_is_dropped(kernel):
    km, _ = kernel
    client = RawClient(km, "control_port")
    try:
        wrong = Session(key=b"wrong")
        client.send_raw(wrong.serialize(wrong.msg("shutdown_request", {"restart": False})))
        msg_id, frames = client.frames("kernel_info_request")
        client.send_raw(frames)
        reply = assert_first_reply_answers(client, msg_id)
        assert reply["msg_type"] == "kernel_info_reply"
        assert km.is_alive()
    finally:
        client.close()


# ---------------------------------------------------------------- heartbeat


def test_heartbeat_echoes_exactly(kernel):
    km, _ = kernel
    info = connection(km)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.linger = 0
    sock.connect(endpoint(info, "hb_port"))
    try:
        for payload in (b"ping", os.urandom(100) + b"\x00\xff", b""):
            sock.send(payload)
            assert sock.poll(10_000), "no heartbeat echo"
            assert sock.recv() == payload
    finally:
        sock.close()
        ctx.term()


# ---------------------------------------------------------------- kernel_info, status


def test_kernel_info_fields(kernel):
    _, kc = kernel
    msg_id = kc.kernel_info()
    reply = reply_to(kc, msg_id)
    c = reply["content"]
    assert c["status"] == "ok"
    assert c["protocol_version"] == "5.3"
    assert c["implementation"] == "rust-concurrency"
    assert c["implementation_version"]
    li = c["language_info"]
    assert li["name"] == "rust"
    assert li["mimetype"] == "text/rust"
    assert li["file_extension"] == ".rs"
    assert li["pygments_lexer"] == "rust"
    assert li["codemirror_mode"] == "rust"
    assert li["version"] and li["version"][0].isdigit(), li["version"]
    assert c["banner"]
    assert c["help_links"] and all({"text", "url"} <= set(h) for h in c["help_links"])
    # Headers name this kernel's own session, not the client's.
    assert reply["header"]["session"] != kc.session.session
    assert reply["header"]["version"] == "5.3"


def test_kernel_info_on_control(kernel):
    km, _ = kernel
    client = RawClient(km, "control_port")
    try:
        msg_id, frames = client.frames("kernel_info_request")
        client.send_raw(frames)
        reply = assert_first_reply_answers(client, msg_id)
        assert reply["content"]["language_info"]["name"] == "rust"
    finally:
        client.close()


def test_busy_idle_around_every_request(kernel):
    _, kc = kernel
    for send in (kc.kernel_info, lambda: kc.is_complete("fn f() {"), lambda: kc.history(hist_access_type="tail", n=1), kc.comm_info):
        msg_id = send()
        reply = reply_to(kc, msg_id)
        states = []
        deadline = time.monotonic() + REPLY_TIMEOUT
        while "idle" not in states:
            msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status":
                states.append(msg["content"]["execution_state"])
        assert states == ["busy", "idle"]


def test_comm_info_and_unknown_comm_is_closed(kernel):
    _, kc = kernel
    msg_id = kc.comm_info()
    reply = reply_to(kc, msg_id)
    assert reply["content"] == {"status": "ok", "comms": {}}
    comm_id = uuid.uuid4().hex
    msg = kc.session.msg("comm_open", {"comm_id": comm_id, "target_name": "no-such-target", "data": {}})
    kc.shell_channel.send(msg)
    deadline = time.monotonic() + REPLY_TIMEOUT
    while True:
        m = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if m["parent_header"].get("msg_id") == msg["header"]["msg_id"] and m["msg_type"] == "comm_close":
            assert m["content"]["comm_id"] == comm_id
            break


# ---------------------------------------------------------------- is_complete


@pytest.mark.parametrize(
    "code,status",
    [
        ("let x = 1;", "complete"),
        ("println!(\"{}\", 1 + 1);", "complete"),
        ("fn f() {", "incomplete"),
        ("let v = vec![1, 2,", "incomplete"),
        ("let s = \"not closed", "incomplete"),
        ("/* open comment", "incomplete"),
        ("let s = \"}\"; let c = '{';", "complete"),
        ("fn f<'a>(x: &'a str) -> &'a str { x }", "complete"),
        ("let r = r#\"quote \" and { \"#;", "complete"),
        ("let x = 1; }", "invalid"),
        ("let x = (1];", "invalid"),
    ],
)
def test_is_complete(kernel, code, status):
    _, kc = kernel
    msg_id = kc.is_complete(code)
    reply = reply_to(kc, msg_id)
    assert reply["content"]["status"] == status
    if status == "incomplete":
        assert reply["content"]["indent"] == "    "


# ---------------------------------------------------------------- execution counter, history


def test_execution_count_and_history(fresh_kernel):
    _, kc = fresh_kernel
    first = run_cell(kc, "let counted_a = 1;")
    assert first.reply["execution_count"] == 1
    inputs = [m for m in first.messages if m["msg_type"] == "execute_input"]
    assert len(inputs) == 1 and inputs[0]["content"]["execution_count"] == 1
    silent = run_cell(kc, "let not_counted = 2;", silent=True)
    assert silent.reply["execution_count"] == 1
    assert not [m for m in silent.messages if m["msg_type"] == "execute_input"]
    unstored = run_cell(kc, "let not_stored = 3;", store_history=False)
    assert unstored.reply["execution_count"] == 1
    second = run_cell(kc, "let counted_b = 4;")
    assert second.reply["execution_count"] == 2

    msg_id = kc.history(hist_access_type="tail", n=10, output=False, raw=True)
    reply = reply_to(kc, msg_id)
    history = reply["content"]["history"]
    assert [h[1:] for h in history] == [[1, "let counted_a = 1;"], [2, "let counted_b = 4;"]]
    session = history[0][0]

    msg_id = kc.history(hist_access_type="range", session=session, start=2, stop=3, output=False, raw=True)
    assert [h[2] for h in reply_to(kc, msg_id)["content"]["history"]] == ["let counted_b = 4;"]
    msg_id = kc.history(hist_access_type="search", pattern="let counted_?*", output=False, raw=True)
    assert len(reply_to(kc, msg_id)["content"]["history"]) == 2


# ---------------------------------------------------------------- stop_on_error


FAILING = 'let broken: i32 = "not a number";'


def _send_queue(kc, codes: list[str], **kwargs) -> list[str]:
    return [kc.execute(code, **kwargs) for code in codes]


def _replies(kc, msg_ids: list[str]) -> dict[str, dict]:
    replies = {}
    deadline = time.monotonic() + 180
    while len(replies) < len(msg_ids):
        msg = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        pid = msg["parent_header"].get("msg_id")
        if pid in msg_ids:
            replies[pid] = msg["content"]
    return replies


def _iopub_until_idle(kc, msg_ids: list[str], timeout: float = 120) -> dict[str, list]:
    """IOPub messages of several requests at once, until each has its idle status."""
    found = {m: [] for m in msg_ids}
    idle = set()
    deadline = time.monotonic() + timeout
    while idle != set(msg_ids):
        msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        parent = msg["parent_header"].get("msg_id")
        if parent in found:
            found[parent].append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                idle.add(parent)
    return found


def test_stop_on_error_aborts_queued_cells(fresh_kernel):
    _, kc = fresh_kernel
    ids = _send_queue(kc, [FAILING, 'println!("queued one ran");', 'println!("queued two ran");'])
    replies = _replies(kc, ids)
    assert replies[ids[0]]["status"] == "error"
    assert replies[ids[1]]["status"] == "aborted"
    assert replies[ids[2]]["status"] == "aborted"
    # Every request still gets busy/idle, and the aborted cells printed nothing.
    by_parent = _iopub_until_idle(kc, ids)
    for msg_id in ids:
        msgs = by_parent[msg_id]
        assert msgs[0]["msg_type"] == "status" and msgs[0]["content"]["execution_state"] == "busy"
        if msg_id != ids[0]:
            assert not [m for m in msgs if m["msg_type"] == "stream"]
    # A cell sent after the error reply runs normally again (or fails for its own reasons).
    after = run_cell(kc, "let fine = 1;")
    assert after.status in ("ok", "error")
    assert after.status != "aborted"


def test_error_reply_and_exactly_one_error_message(kernel):
    _, kc = kernel
    res = run_cell(kc, FAILING)
    assert res.status == "error"
    assert len(res.errors) == 1
    err = res.errors[0]
    assert err["ename"] and isinstance(err["traceback"], list)
    assert not any("\x1b[" in line for line in err["traceback"]), "ANSI escapes in the traceback"
    assert res.reply["ename"] == err["ename"]


def test_stop_on_error_false_runs_queued_cells(fresh_kernel):
    _, kc = fresh_kernel
    ids = _send_queue(kc, [FAILING, "let still_runs = 1;"], stop_on_error=False)
    replies = _replies(kc, ids)
    assert replies[ids[0]]["status"] == "error"
    assert replies[ids[1]]["status"] != "aborted"


# ---------------------------------------------------------------- control channel


def test_interrupt_request_gets_a_reply(kernel):
    _, kc = kernel
    msg = kc.session.msg("interrupt_request", {})
    kc.control_channel.send(msg)
    reply = kc.get_control_msg(timeout=REPLY_TIMEOUT)
    assert reply["parent_header"]["msg_id"] == msg["header"]["msg_id"]
    assert reply["msg_type"] == "interrupt_reply"
    assert reply["content"]["status"] == "ok"
    # The kernel is still usable afterwards.
    msg_id = kc.kernel_info()
    assert reply_to(kc, msg_id)["content"]["status"] == "ok"


def _alive(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


@pytest.mark.parametrize("restart", [True, False])
def test_shutdown_request_leaves_no_processes(fresh_kernel, restart):
    km, kc = fresh_kernel
    # Give the kernel something to clean up: a daemon process that would outlive everything.
    run_cell(
        kc,
        "let mut keeper = Process::new(|| { sleep(100000.0); }).daemon(true); keeper.start();",
    )
    kernel_pid = km.provisioner.process.pid
    before = descendants(kernel_pid)
    assert before, "the kernel has no child processes (its runtime should be one)"
    msg_id = kc.shutdown(restart=restart)
    reply = kc.get_control_msg(timeout=REPLY_TIMEOUT)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"] == {"status": "ok", "restart": restart}
    # The kernel exits by itself (jupyter_client would otherwise kill it after a grace time).
    code = km.provisioner.process.wait(timeout=30)
    assert code == 0, f"kernel exited with {code}"
    left = [pid for pid in before if _alive(pid)]
    assert not left, f"processes left behind after shutdown: {left}"


@pytest.mark.parametrize("how", ["interrupt_request", "SIGINT"])
def test_interrupt_stops_a_blocked_cell(fresh_kernel, how):
    km, kc = fresh_kernel
    run_cell(kc, "let warm = 1;")
    msg_id = kc.execute("sleep(1000000.0);")
    # The cell is running once its execute_input is out.
    deadline = time.monotonic() + 120
    while True:
        m = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "execute_input":
            break
    started = time.monotonic()
    if how == "SIGINT":
        os.kill(km.provisioner.process.pid, signal.SIGINT)
    else:
        interrupt = kc.session.msg("interrupt_request", {})
        kc.control_channel.send(interrupt)
        assert kc.get_control_msg(timeout=REPLY_TIMEOUT)["content"]["status"] == "ok"
    reply = reply_to(kc, msg_id, timeout=30)
    assert reply["content"]["status"] == "error"
    assert time.monotonic() - started < 5
    assert km.is_alive()


def test_sigint_does_not_kill_the_kernel(fresh_kernel):
    km, kc = fresh_kernel
    os.kill(km.provisioner.process.pid, signal.SIGINT)
    msg_id = kc.kernel_info()
    assert reply_to(kc, msg_id)["content"]["status"] == "ok"
    assert km.is_alive()


def test_ipc_transport(kernel_spec_dir, tmp_path):
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="rust-concurrency", transport="ipc", ip=str(tmp_path / "kernel-ipc"))
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=180)
        msg_id = kc.kernel_info()
        reply = reply_to(kc, msg_id)
        assert reply["content"]["language_info"]["name"] == "rust"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def test_kernel_exits_when_its_parent_is_gone(kernel_spec_dir, tmp_path):
    from jupyter_client.connect import write_connection_file

    from conftest import kernel_binary

    conn_file, _ = write_connection_file(str(tmp_path / "conn.json"), key=b"parent-test-key")
    # A stand-in parent that lives until we close its stdin.
    parent = subprocess.Popen(["cat"], stdin=subprocess.PIPE)
    env = dict(os.environ, JPY_PARENT_PID=str(parent.pid))
    kernel_proc = subprocess.Popen([str(kernel_binary()), "--connection-file", conn_file], env=env, stderr=subprocess.PIPE)
    try:
        from jupyter_client.blocking.client import BlockingKernelClient

        kc = BlockingKernelClient(connection_file=conn_file)
        kc.load_connection_file()
        kc.start_channels()
        kc.wait_for_ready(timeout=180)
        kc.stop_channels()
        parent.stdin.close()
        parent.wait(timeout=10)
        assert kernel_proc.wait(timeout=30) == 0
    finally:
        if kernel_proc.poll() is None:
            kernel_proc.kill()
            kernel_proc.wait()
        if parent.poll() is None:
            parent.kill()
            parent.wait()


STARTING_NOTICE = re.compile(r"Starting the Rust compiler \(about \d+ s, only once per kernel\)…")


def test_input_request_on_stdin(kernel_spec_dir):
    from conftest import KERNEL_NAME, stop_kernel
    from jupyter_client.manager import start_new_kernel

    # This kernel must really ask: no unattended mode.
    env = {k: v for k, v in os.environ.items() if k != "MULTIPROC_UNATTENDED"}
    # The build store off, so the start-up builds really compile (≈ 1 s after kernel_info):
    # with them stored by earlier tests the evaluator can be ready before the first cell
    # arrives, and then there is rightly no waiting notice to check.
    env["RUST_CONCURRENCY_BUILD_STORE"] = "0"
    km, kc = start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=180, env=env)
    try:
        code = 'let who = input("Name? ", "nobody"); println!("hello {who}");'
        # The first cell of a fresh kernel waits for the evaluator (it compiles the support
        # crate's start-up cell for seconds after kernel_info was answered): it says so at once,
        # as its first output, and clears it away when the evaluator is ready, before the
        # cell's own output (so saved notebooks and decks keep nothing of it, not even an empty
        # output). Only that cell.
        first = run_cell(kc, 'println!("first");', timeout=300)
        assert first.status == "ok", first.errors
        kinds = ("stream", "display_data", "update_display_data", "clear_output", "error", "execute_result")
        outputs = [m for m in first.messages if m["msg_type"] in kinds]
        shown, cleared, own = outputs[0], outputs[1], outputs[2:]
        assert shown["msg_type"] == "display_data", outputs
        assert STARTING_NOTICE.fullmatch(shown["content"]["data"]["text/plain"]), outputs
        assert cleared["msg_type"] == "clear_output" and cleared["content"] == {"wait": False}, outputs
        assert [m["msg_type"] for m in own] == ["stream"] and first.stdout == "first\n"
        assert [o["output_type"] for o in first.outputs] == ["stream"], "a frontend keeps the cell's own output only"
        again = run_cell(kc, 'println!("second");')
        assert again.displays == [] and again.stdout == "second\n"
        asked = run_cell(kc, code, allow_stdin=True, stdin_answers=["Ada"])
        assert asked.status == "ok", asked.errors
        assert "hello Ada" in asked.stdout
        # Just Enter: the default, and the prompt only once (the frontend shows it with the
        # answer under the cell; the kernel prints no second copy of it).
        empty = run_cell(kc, code, allow_stdin=True, stdin_answers=[""])
        assert empty.status == "ok", empty.errors
        assert empty.stdout == "nobody\nhello nobody\n", empty.stdout
        asked_for = [m for m in empty.messages if m["msg_type"] == "stream" and "Name?" in m["content"]["text"]]
        assert asked_for == []
        # Without stdin the frontend is never asked and the default is used.
        not_asked = run_cell(kc, code, allow_stdin=False)
        assert not_asked.status == "ok", not_asked.errors
        assert "hello nobody" in not_asked.stdout
    finally:
        stop_kernel(km, kc)


# ---------------------------------------------------------------- iopub_welcome (JEP 65)


class RawSubscriber:
    """A SUB socket on the kernel's IOPub port; messages are checked against the kernel's key."""

    def __init__(self, km, topic: bytes = b""):
        info = connection(km)
        self.session = Session(key=info["key"].encode(), signature_scheme=info["signature_scheme"])
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.linger = 0
        self.sock.setsockopt(zmq.SUBSCRIBE, topic)
        self.sock.connect(endpoint(info, "iopub_port"))

    def recv(self, timeout: float = REPLY_TIMEOUT) -> tuple[list[bytes], dict]:
        """(topic frames, message); Session.deserialize raises if the signature is wrong."""
        if not self.sock.poll(int(timeout * 1000)):
            raise TimeoutError("nothing on IOPub")
        idents, msg = self.session.feed_identities(self.sock.recv_multipart())
        return idents, self.session.deserialize(msg)

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()


def assert_welcome(msg: dict, subscription: str) -> None:
    assert msg["msg_type"] == "iopub_welcome"
    assert msg["content"] == {"subscription": subscription}
    assert msg["parent_header"] == {}
    assert msg["metadata"] == {}


def test_every_new_iopub_subscriber_is_welcomed(kernel):
    km, _ = kernel
    subs = []
    try:
        # One client after the other, so each can only have received its own welcome: a second
        # client with the same (empty) subscription is welcomed too (XPUB "verbose").
        for _ in range(2):
            subs.append(RawSubscriber(km))
            _, msg = subs[-1].recv()
            assert_welcome(msg, "")
        # A prefix subscription is answered under that topic, so its subscriber receives it.
        subs.append(RawSubscriber(km, b"kernel."))
        idents, msg = subs[-1].recv()
        assert_welcome(msg, "kernel.")
        assert idents[0].startswith(b"kernel.")
        # The first client saw the later welcomes too (its subscription matches them all).
        assert [subs[0].recv()[1]["content"]["subscription"] for _ in range(2)] == ["", "kernel."]
    finally:
        for sub in subs:
            sub.close()


def test_kernel_info_advertises_iopub_welcome(kernel):
    _, kc = kernel
    reply = reply_to(kc, kc.kernel_info())
    assert "iopub_welcome" in reply["content"]["supported_features"]


def test_a_client_connected_right_after_start_misses_nothing(kernel_spec_dir):
    from jupyter_client.manager import KernelManager

    from conftest import KERNEL_NAME

    km = KernelManager(kernel_name=KERNEL_NAME)
    km.start_kernel()
    sub = RawSubscriber(km)
    shell = RawClient(km)
    try:
        # The first message a subscriber gets is its welcome: from then on nothing is lost,
        # so one kernel_info_request (no retries, no "nudging") shows busy and idle.
        _, first = sub.recv(timeout=180)
        assert_welcome(first, "")
        msg_id, frames = shell.frames("kernel_info_request")
        shell.send_raw(frames)
        assert shell.recv(timeout=180)["parent_header"]["msg_id"] == msg_id
        states = []
        while "idle" not in states:
            _, msg = sub.recv()
            if msg["msg_type"] == "status" and msg["parent_header"].get("msg_id") == msg_id:
                states.append(msg["content"]["execution_state"])
            else:
                # Only the start-up status may come first, when the kernel published it after
                # the subscription arrived.
                assert msg["msg_type"] == "status" and msg["content"]["execution_state"] == "starting", msg
        assert states == ["busy", "idle"]
    finally:
        sub.close()
        shell.close()
        km.shutdown_kernel(now=True)
