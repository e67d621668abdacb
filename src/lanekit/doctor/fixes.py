"""The exact fix for each failure, per engine, named in the flags that engine takes.

Parser names come from the recipe data (`lanes/recipes/families.yaml`), so the doctor and
`lanekit recipe` never disagree about what a model family needs.
"""

from __future__ import annotations


def _family_engine(model: str | None, engine: str) -> dict:
    """The recipe block for this model's family on `engine` ({} when unknown)."""
    if not model:
        return {}
    from lanekit.lanes.recipes import find_family

    fam = find_family(model)
    if fam is None:
        return {}
    block = fam.engines.get("vllm" if engine in ("vllm-docker", "nim") else engine, {})
    return dict(block)


def recipe_hint(model: str | None, engine: str) -> str:
    return f"`lanekit recipe {model or 'MODEL'} --engine {engine}` prints the whole command"


def tool_parser_flags(model: str | None, engine: str | None) -> str:
    """vLLM/SGLang/NIM flags that turn tool calls into structured `tool_calls`."""
    engine = engine or "vllm"
    block = _family_engine(model, engine)
    if engine == "sglang":
        return f"--tool-call-parser {block.get('tool_call_parser', '<qwen25|llama3|mistral|gpt-oss|…>')}"
    if engine == "nim":
        parser = block.get("tool_call_parser", "<parser>")
        return f"NIM_ENABLE_AUTO_TOOL_CHOICE=1 NIM_TOOL_CALL_PARSER={parser}"
    if engine == "trtllm":
        return f"--tool_parser {_family_engine(model, 'trtllm').get('tool_parser', '<parser>')}"
    parser = block.get("tool_call_parser", "<hermes for Qwen|llama3_json|mistral|openai for gpt-oss|…>")
    return f"--enable-auto-tool-choice --tool-call-parser {parser}"


def call_in_text(model: str | None, engine: str | None, form: str) -> str:
    """Fix for 'the call is written in the text' (the parser did not recognise the model's markup)."""
    engine = engine or "unknown"
    if engine == "llamacpp":
        from lanekit.lanes.recipes import find_family

        fam = find_family(model or "")
        block = fam.engines.get("llamacpp", {}) if fam else {}
        if block.get("chat_template_file"):
            return (f"serve with the shipped template: chat_template_file: {block['chat_template_file']} "
                    f"(--chat-template-file); it makes the {form} the tool-call delimiter; "
                    + recipe_hint(model, engine))
        return (f"pass --chat-template-file with a template whose tool-call markup (instruction text AND "
                f"rendered past calls) is the {form} the model writes, so llama.cpp's parser detects it")
    if engine == "ollama":
        return "use a model whose Ollama template supports tools (`ollama show --template MODEL`) or a fixed TEMPLATE"
    return (f"{tool_parser_flags(model, engine)} (the parser must match the model's {form}); "
            + recipe_hint(model, engine))


def http_400(model: str | None, engine: str | None) -> str:
    """Fix for a request with `tools` that the server rejects (vLLM without a parser)."""
    return f"start the server with {tool_parser_flags(model, engine)}; " + recipe_hint(model, engine or "vllm")


def streaming_tools(model: str | None, engine: str | None) -> str:
    """Fix for tool calls that only the non-streamed path returns whole."""
    if engine == "llamacpp":
        return ("llama.cpp's streaming parser missed the call: update llama-server, or serve a template whose "
                "tool-call markup is the one its parser knows (" + recipe_hint(model, engine) + ")")
    return (f"the server's streaming tool parser does not match the model: {tool_parser_flags(model, engine)} with "
            "the model's own parser, or a newer engine; " + recipe_hint(model, engine or "vllm"))


def no_jinja() -> str:
    return ("start llama-server with --jinja (remove --no-jinja from extra_args; lanekit adds --jinja, "
            "and the last flag wins)")


def tools_dropped(model: str | None, engine: str | None) -> str:
    if engine == "llamacpp":
        return ("the chat template has no tool support: pick a tool-calling model (qwen2.5-coder-1.5b with "
                "chat_template_file: qwen2.5-coder-tools) or pass --chat-template-file with one that renders tools")
    return "serve a model/template that renders `tools` into the prompt; " + recipe_hint(model, engine or "vllm")


def reasoning_swallowed(model: str | None, engine: str | None) -> str:
    """Fix for a call trapped inside <think> / reasoning_content."""
    engine = engine or "vllm"
    block = _family_engine(model, engine)
    parser = block.get("reasoning_parser", "qwen3")
    if engine in ("vllm", "vllm-docker"):
        return (f"--generation-config vllm (stops the checkpoint's thinking default) and --reasoning-parser "
                f"{parser}; or send chat_template_kwargs {{\"enable_thinking\": false}}")
    if engine == "sglang":
        return f"--reasoning-parser {parser}; or chat_template_kwargs {{\"enable_thinking\": false}}"
    if engine == "llamacpp":
        return "--reasoning-format deepseek (reasoning into reasoning_content) or --reasoning-budget 0"
    return "configure the engine's reasoning parser, or disable thinking via chat_template_kwargs"


def context(engine: str | None, floor: int, parallel: int | None = None, n_ctx_train: int | None = None) -> str:
    """Fix for a served context below the harness floor."""
    if engine == "llamacpp":
        np = parallel or 1
        fix = (f"-c {floor * np} -np {np} (llama.cpp splits -c across slots: {floor:,} per slot; "
               f"lanekit: ctx: {floor})")
        if n_ctx_train and n_ctx_train < floor:
            fix += (f"; the model was trained on {n_ctx_train:,} and llama-server caps each slot there: add "
                    f"--rope-scaling yarn --rope-scale {-(-floor // n_ctx_train)} --yarn-orig-ctx {n_ctx_train} "
                    f"--override-kv <arch>.context_length=int:{floor} (`lanekit recipe MODEL --engine llamacpp` "
                    "prints it) or pick a model with a ≥64K window")
        return fix
    if engine == "ollama":
        return f"OLLAMA_CONTEXT_LENGTH={floor} for `ollama serve` (the OpenAI API cannot set it); lanekit: ctx: {floor}"
    if engine == "nim":
        return f"NIM_MAX_MODEL_LEN={floor}"
    if engine == "sglang":
        return f"--context-length {floor}"
    if engine == "trtllm":
        return f"--max_seq_len {floor}"
    return f"--max-model-len {floor} (above the model's native window add YaRN rope scaling; `lanekit recipe` does)"


def metrics(engine: str | None) -> str:
    return {"llamacpp": "start llama-server with --metrics", "sglang": "add --enable-metrics",
            "ollama": "Ollama has no Prometheus endpoint: bench falls back to client-side timing",
            "nim": "NIM serves metrics at /v1/metrics: pass --metrics-url"}.get(
        engine or "", "expose Prometheus /metrics (vLLM does by default) or pass --metrics-url")


def prefix_cache(engine: str | None) -> str:
    return {"vllm": "--enable-prefix-caching", "vllm-docker": "--enable-prefix-caching",
            "sglang": "remove --disable-radix-cache", "nim": "NIM_ENABLE_KV_CACHE_REUSE=1",
            "trtllm": "kv_cache_config.enable_block_reuse: true",
            "llamacpp": "keep cache_prompt on (default); add --cache-reuse 256 for shifted prefixes"}.get(
        engine or "", "enable the engine's prefix cache")
