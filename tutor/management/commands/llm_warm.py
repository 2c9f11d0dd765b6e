import time
from typing import Any

from django.core.management.base import BaseCommand

from tutor.llm import BackendError, get_backend


class Command(BaseCommand):
    help = ("Ask the configured language model for one short reply (for the embedded default: the model "
            "server that .ci/start started), so the first student does not wait for it.")

    def handle(self, *args: Any, **opts: Any) -> None:
        started = time.perf_counter()
        try:
            backend = get_backend()
            backend.generate([{"role": "user", "content": "Say hello."}], max_new_tokens=2, temperature=0.0)
        except (BackendError, OSError, ValueError) as exc:
            self.stderr.write(f"The language model is not available ({exc}); the tutor will send authored text.")
            return
        self.stdout.write(f"Language model ready: {backend.name} ({backend.model_id}) "
                          f"in {time.perf_counter() - started:.1f} s")
