# The server's weights into the Hugging Face cache on /data, before the gate ever takes the card
# (templates/server-warmup-job.yaml runs this in the server image, with no GPU).
#
# Which files, and from where, is the server's own business: its config names the model
# (model.repo_id, read by its config module from the config.yaml the entrypoint copies into the
# working directory), its engine maps that name to a model class, and the class's
# `from_pretrained` downloads exactly what it will load, then hands the folder to `from_local`,
# which loads it. Here `from_local` returns the folder instead, so the download happens and the
# load (gigabytes of RAM, minutes of CPU) does not. No CUDA call is made; the pod also hides the
# card (NVIDIA_VISIBLE_DEVICES=void) and asks for none.
import sys
import time
from pathlib import Path

sys.path.insert(0, "/app")  # the server's modules (the image's layout)

from config import config_manager  # noqa: E402  (the server's config, as it reads it)
import engine  # noqa: E402

selector = config_manager.get_string("model.repo_id", "chatterbox-turbo")
model_class, model_type = engine._get_model_class(selector)
model_class.from_local = classmethod(lambda cls, ckpt_dir, device: Path(ckpt_dir))
started = time.monotonic()
folder = Path(model_class.from_pretrained(device="cpu"))
files = [f for f in folder.rglob("*") if f.is_file()]
size = sum(f.stat().st_size for f in files)
print(
    f"warm-up: the {model_type} model ({selector}) is in the cache: {len(files)} files, "
    f"{size / 2**30:.2f} GiB in {folder}, {time.monotonic() - started:.0f} s",
    flush=True,
)
