"""The jupyter_kernel_test conformance suite, with every sample it supports filled in."""

from __future__ import annotations

import unittest

import jupyter_kernel_test
import pytest
from jupyter_client.manager import start_new_kernel


@pytest.mark.usefixtures("kernel_spec_dir")
class RustConcurrencyKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "rust-concurrency"

    @classmethod
    def setUpClass(cls) -> None:
        # The first start may compile the support crate: allow more than the default 60 s.
        cls.km, cls.kc = start_new_kernel(kernel_name=cls.kernel_name, startup_timeout=180)
        # The kernel answers kernel_info at once and loads evcxr and the support crate in the
        # background; the first execute_request waits for that. Wait for it here, once, so that
        # the suite's short per-request timeouts measure requests, not the kernel's start-up.
        reply = cls.kc.execute_interactive("", silent=True, store_history=False, timeout=600)
        assert reply["content"]["status"] == "ok", reply["content"]

    language_name = "rust"
    file_extension = ".rs"

    code_hello_world = 'println!("hello, world");'
    code_stderr = 'eprintln!("this goes to stderr");'

    completion_samples = [
        {"text": "let conformance_value_alpha = 1;\nconformance_value_al", "matches": ["conformance_value_alpha"]},
    ]

    complete_code_samples = ["let x = 1;", 'println!("{}", 1 + 1);', "fn f() -> i32 { 1 }", "// just a comment"]
    incomplete_code_samples = ["fn f() {", "let v = vec![1, 2,", 'let s = "open', "/* open comment"]
    invalid_code_samples = ["let x = 1; }", "let y = (1];"]

    # A type error: rustc reports it once, the kernel sends exactly one `error` message.
    code_generate_error = 'let broken: i32 = "not a number";'

    code_execute_result = [
        {"code": "1+1", "result": "2"},
        {"code": "6 * 7", "result": "42"},
        {"code": '"text".len()', "result": "4"},
    ]
    code_history_pattern = "1?1"
    supported_history_operations = ("tail", "range", "search")

    code_display_data = [
        {"code": 'display_html("<b>bold</b>");', "mime": "text/html"},
    ]

    code_inspect_sample = "Vec"

    code_clear_output = 'println!("soon gone"); clear_output(false);'


if __name__ == "__main__":
    unittest.main()
