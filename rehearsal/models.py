"""Tiny, randomly initialised copies of the hub models that ``recipes/paper.toml`` names.

Each copy has the file names, config class, ``model_type``, ``architectures``, processor and
tokenizer settings of its real hub repository (see ``rehearsal/MODELS.md`` for what was confirmed
from a public source and what was assumed); only widths, depths and vocabularies are shrunk. The
copies are written into a Hugging Face cache (``HF_HUB_CACHE`` layout: ``models--org--name/`` with
``blobs/``, ``refs/main`` and ``snapshots/<commit>/`` links), under the real hub ids, so that with
``HF_HUB_CACHE=<cache> HF_HUB_OFFLINE=1`` the registry names (``rad-dino``, ``biomedclip``, ...)
load unchanged through the transformers and open_clip backends.

The tokenizers' vocabularies are built from ``words`` (e.g. the words of the rehearsal's reports
and prompts): WordPiece for the BERTs (lower-cased, as the real ones are uncased) and a byte-level
BPE with CLIP's ``</w>`` word ends for CLIP, so that radiology texts tokenise into whole words
rather than ``[UNK]``. Everything is a pure function of ``words`` and ``seed``: the same inputs give
byte-identical files and the same commit hashes.
"""

from __future__ import annotations

import hashlib
import heapq
import io
import itertools
import json
import re
import string
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: registry name -> hub id, for every model that recipes/paper.toml names
HUB_MODELS: dict[str, str] = {
    "rad-dino": "microsoft/rad-dino",
    "dinov2-base": "facebook/dinov2-base",
    "cxr-bert-general": "microsoft/BiomedVLP-CXR-BERT-general",
    "biomedbert": "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext",
    "bert-base": "google-bert/bert-base-uncased",
    "clip-vit-b16": "openai/clip-vit-base-patch16",
    "biomedclip": "microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224",
}
#: the text tower that BiomedCLIP's open_clip_config.json names (hf_model_name), planted too
BIOMEDCLIP_TEXT = "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract"

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
RAD_DINO_MEAN = [0.5307, 0.5307, 0.5307]
RAD_DINO_STD = [0.2583, 0.2583, 0.2583]

MAX_WORDS = 4000  # the most frequent words of ``words`` enter the vocabularies
_BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BERT_SPECIAL_TOKENS_MAP = {"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]",
                           "sep_token": "[SEP]", "unk_token": "[UNK]"}  # fmt: skip
_CLIP_BOS, _CLIP_EOS = "<|startoftext|>", "<|endoftext|>"

Files = dict[str, bytes]


# ---------------------------------------------------------------------------------------------
# vocabularies


def word_counts(words: Sequence[str], limit: int = MAX_WORDS) -> dict[str, int]:
    """The lower-cased alphanumeric words of ``words`` (2+ characters) with their counts, most
    frequent first (ties: first seen), at most ``limit``."""
    counts: Counter[str] = Counter()
    for entry in words:
        counts.update(re.findall(r"[a-z0-9]+", str(entry).lower()))
    order = {w: i for i, w in enumerate(counts)}  # Counter keeps first-seen order
    ranked = sorted((w for w in counts if len(w) > 1), key=lambda w: (-counts[w], order[w]))
    return {w: counts[w] for w in ranked[:limit]}


def vocabulary_words(words: Sequence[str], limit: int = MAX_WORDS) -> list[str]:
    """The words of ``word_counts``, most frequent first."""
    return list(word_counts(words, limit))


def wordpiece_vocab(words: Sequence[str], *, google_layout: bool) -> list[str]:
    """A WordPiece vocabulary: special tokens, single characters, whole words, ``##`` pieces.

    ``google_layout`` puts the special tokens where Google's bert-base-uncased has them ([PAD] 0,
    [unused0-98], [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103); otherwise they are ids 0-4 as in
    Microsoft's from-scratch vocabularies (PubMedBERT / BiomedBERT, CXR-BERT).
    """
    if google_layout:
        head = ["[PAD]", *(f"[unused{i}]" for i in range(99)), "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    else:
        head = list(_BERT_SPECIALS)
    chars = list(string.punctuation + string.digits + string.ascii_lowercase)
    pieces = [f"##{c}" for c in string.digits + string.ascii_lowercase]
    return list(dict.fromkeys([*head, *chars, *vocabulary_words(words), *pieces]))


def _byte_symbols() -> list[str]:
    """The 256 printable stand-ins of byte-level BPE, in the order GPT-2 / CLIP vocabularies use."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("\xa1"), ord("\xac") + 1),
        *range(ord("\xae"), ord("\xff") + 1),
    ]
    kept = set(printable)
    others = [b for b in range(256) if b not in kept]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(others))]


def learn_bpe(counts: dict[str, int]) -> list[tuple[str, str]]:
    """Byte-pair merges learned on words with counts, until every word is one symbol.

    Each word is its characters with ``</w>`` on the last; at each step the most frequent
    adjacent pair (weighted by word count; ties: the smallest pair) is merged. Deterministic.
    """
    seqs = [[*w[:-1], w[-1] + "</w>"] for w in counts]
    freq = list(counts.values())
    pairs: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], set[int]] = defaultdict(set)
    for i, seq in enumerate(seqs):
        for pair in itertools.pairwise(seq):
            pairs[pair] += freq[i]
            where[pair].add(i)
    heap = [(-n, pair) for pair, n in pairs.items()]
    heapq.heapify(heap)
    merges: list[tuple[str, str]] = []
    while heap:
        neg, pair = heapq.heappop(heap)
        if -neg <= 0 or pairs[pair] != -neg:  # stale entry
            continue
        merges.append(pair)
        touched: set[tuple[str, str]] = set()
        for i in sorted(where.pop(pair, ())):
            seq, new, j = seqs[i], [], 0
            while j < len(seq):
                if j + 1 < len(seq) and (seq[j], seq[j + 1]) == pair:
                    new.append(seq[j] + seq[j + 1])
                    j += 2
                else:
                    new.append(seq[j])
                    j += 1
            for old in itertools.pairwise(seq):
                pairs[old] -= freq[i]
                touched.add(old)
            for fresh in itertools.pairwise(new):
                pairs[fresh] += freq[i]
                where[fresh].add(i)
                touched.add(fresh)
            seqs[i] = new
        for other in sorted(touched):
            if pairs[other] > 0:
                heapq.heappush(heap, (-pairs[other], other))
    return merges


def clip_bpe(words: Sequence[str]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP-style BPE vocabulary and merges learned on ``words`` (word ends marked ``</w>``).

    Layout as in OpenAI CLIP's vocab.json: the 256 byte symbols, the same with ``</w>``, the merge
    results in merge order, then ``<|startoftext|>`` and ``<|endoftext|>`` (the largest id, which
    CLIP's text pooling relies on).
    """
    merges = learn_bpe(word_counts(words))
    base = _byte_symbols()
    tokens = [*base, *(b + "</w>" for b in base), *(a + b for a, b in merges)]
    tokens = [*dict.fromkeys(tokens), _CLIP_BOS, _CLIP_EOS]
    return {t: i for i, t in enumerate(tokens)}, merges


# ---------------------------------------------------------------------------------------------
# file contents


def _json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def _tokenizer_json(make: Callable[[str], Any]) -> bytes:
    """tokenizer.json as transformers writes it for a tokenizer built by ``make(tmpdir)``."""
    with tempfile.TemporaryDirectory() as tmp:
        make(tmp).save_pretrained(tmp)
        data = json.loads(Path(tmp, "tokenizer.json").read_text())
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def bert_tokenizer_files(
    vocab: list[str], *, tokenizer_json: bool, max_length: int | None
) -> Files:
    """vocab.txt and tokenizer_config.json (uncased), and tokenizer.json where the repo has one."""
    files: Files = {"vocab.txt": ("\n".join(vocab) + "\n").encode()}
    cfg: dict[str, Any] = {"do_lower_case": True}
    if max_length:
        cfg["model_max_length"] = max_length
    files["tokenizer_config.json"] = _json(cfg)
    if tokenizer_json:
        from transformers import BertTokenizer

        ids = {t: i for i, t in enumerate(vocab)}
        files["tokenizer.json"] = _tokenizer_json(lambda _: BertTokenizer(vocab=ids))
    return files


def clip_tokenizer_files(words: Sequence[str]) -> tuple[Files, int]:
    """vocab.json, merges.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json."""
    from transformers import CLIPTokenizer

    vocab, merges = clip_bpe(words)
    files: Files = {
        "vocab.json": (json.dumps(vocab, ensure_ascii=False) + "\n").encode(),
        "merges.txt": ("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)).encode(),
    }
    pairs: Any = list(merges)  # the backend takes (a, b) pairs, whatever the hint says
    files["tokenizer.json"] = _tokenizer_json(
        lambda _: CLIPTokenizer(vocab=dict(vocab), merges=pairs)
    )
    specials = {"bos_token": _CLIP_BOS, "eos_token": _CLIP_EOS, "unk_token": _CLIP_EOS,
                "pad_token": _CLIP_EOS}  # fmt: skip
    files["special_tokens_map.json"] = _json(specials)
    settings = {"add_prefix_space": False, "do_lower_case": True, "errors": "replace",
                "model_max_length": 77, "tokenizer_class": "CLIPTokenizer"}  # fmt: skip
    files["tokenizer_config.json"] = _json({**specials, **settings})
    return files, len(vocab)


def bert_config(vocab_size: int, hidden: int, **extra: Any) -> dict[str, Any]:
    """A BertForMaskedLM config.json as the hub's BERTs hold it, shrunk to ``hidden`` wide."""
    return {
        "architectures": ["BertForMaskedLM"],
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": hidden,
        "initializer_range": 0.02,
        "intermediate_size": 2 * hidden,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": 512,
        "model_type": "bert",
        "num_attention_heads": 2,
        "num_hidden_layers": 2,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": 2,
        "vocab_size": vocab_size,
        **extra,
    }


def dinov2_config(hidden: int) -> dict[str, Any]:
    """A Dinov2Model config.json (ViT-B/14 at 518 px, as dinov2-base and RAD-DINO), shrunk."""
    return {
        "architectures": ["Dinov2Model"],
        "attention_probs_dropout_prob": 0.0,
        "drop_path_rate": 0.0,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "hidden_size": hidden,
        "image_size": 518,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-06,
        "layerscale_value": 1.0,
        "mlp_ratio": 4,
        "model_type": "dinov2",
        "num_attention_heads": 2,
        "num_channels": 3,
        "num_hidden_layers": 2,
        "patch_size": 14,
        "qkv_bias": True,
        "torch_dtype": "float32",
        "use_swiglu_ffn": False,
    }


def bit_processor(shortest_edge: int, crop: int, mean: list[float], std: list[float]) -> bytes:
    """preprocessor_config.json of the DINOv2 family: BitImageProcessor, bicubic, center crop."""
    return _json(
        {
            "crop_size": {"height": crop, "width": crop},
            "do_center_crop": True,
            "do_convert_rgb": True,
            "do_normalize": True,
            "do_rescale": True,
            "do_resize": True,
            "image_mean": mean,
            "image_processor_type": "BitImageProcessor",
            "image_std": std,
            "resample": 3,
            "rescale_factor": 1 / 255,
            "size": {"shortest_edge": shortest_edge},
        }
    )


def clip_config(vocab_size: int, hidden: int = 32) -> dict[str, Any]:
    """openai/clip-vit-base-patch16's CLIPModel config: 77 positions, ViT-B/16 at 224, 512-d."""
    common = {"hidden_act": "quick_gelu", "hidden_size": hidden, "intermediate_size": 2 * hidden,
              "num_attention_heads": 2, "num_hidden_layers": 2, "layer_norm_eps": 1e-05,
              "projection_dim": 512, "initializer_factor": 1.0}  # fmt: skip
    text = {"model_type": "clip_text_model", "vocab_size": vocab_size,
            "max_position_embeddings": 77, "bos_token_id": 0, "eos_token_id": 2,
            "pad_token_id": 1}  # fmt: skip
    vision = {"model_type": "clip_vision_model", "image_size": 224, "patch_size": 16,
              "num_channels": 3}  # fmt: skip
    return {
        "architectures": ["CLIPModel"],
        "initializer_factor": 1.0,
        "logit_scale_init_value": 2.6592,
        "model_type": "clip",
        "projection_dim": 512,
        "text_config": {**common, **text},
        "vision_config": {**common, **vision},
        "torch_dtype": "float32",
    }


def clip_processor() -> bytes:
    """The CLIP repo's preprocessor_config.json, in its original feature-extractor form."""
    return _json(
        {
            "crop_size": 224,
            "do_center_crop": True,
            "do_normalize": True,
            "do_resize": True,
            "feature_extractor_type": "CLIPFeatureExtractor",
            "image_mean": OPENAI_CLIP_MEAN,
            "image_std": OPENAI_CLIP_STD,
            "resample": 3,
            "size": 224,
        }
    )


def biomedclip_config(text_model: str, context_length: int = 256) -> dict[str, Any]:
    """BiomedCLIP's open_clip_config.json with a tiny timm ViT/16 trunk (``test_vit``).

    The real one names ``vit_base_patch16_224``; open_clip takes no width/depth overrides for timm
    towers, so the trunk is timm's 64-wide test ViT (patch 16, dynamic image size) run at 224 px.
    """
    return {
        "model_cfg": {
            "embed_dim": 512,
            "vision_cfg": {
                "timm_model_name": "test_vit",
                "timm_model_pretrained": False,
                "timm_pool": "",
                "timm_proj": "linear",
                "image_size": 224,
            },
            "text_cfg": {
                "hf_model_name": text_model,
                "hf_tokenizer_name": text_model,
                "hf_proj_type": "mlp",
                "hf_pooler_type": "cls_last_hidden_state_pooler",
                "context_length": context_length,
            },
        },
        "preprocess_cfg": {"mean": OPENAI_CLIP_MEAN, "std": OPENAI_CLIP_STD},
    }


# ---------------------------------------------------------------------------------------------
# weights


def _unshared(state: dict[str, Any]) -> dict[str, Any]:
    """A state dict without tied duplicates (as save_pretrained drops them), contiguous copies."""
    seen: set[tuple[int, int]] = set()
    out = {}
    for key, tensor in state.items():
        ident = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        if ident in seen:
            continue
        seen.add(ident)
        out[key] = tensor.detach().clone().contiguous()
    return out


def safetensors_bytes(state: dict[str, Any]) -> bytes:
    from safetensors.torch import save

    return save(_unshared(state), metadata={"format": "pt"})


def torch_bin_bytes(state: dict[str, Any]) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(_unshared(state), buffer)
    return buffer.getvalue()


def _hf_state(config: dict[str, Any], cls_name: str, seed: int) -> dict[str, Any]:
    """The seeded random state dict of transformers class ``cls_name`` built from ``config``."""
    import torch
    import transformers
    from transformers import AutoConfig

    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "config.json").write_bytes(_json(config))
        cfg = AutoConfig.from_pretrained(tmp)
    torch.manual_seed(seed)
    model = getattr(transformers, cls_name)(cfg)
    return model.state_dict()


def _biomedclip_state(text_config: dict[str, Any], seed: int) -> dict[str, Any]:
    """Random open_clip weights for BiomedCLIP's layout (needs open_clip_torch and timm)."""
    try:
        import open_clip
    except ImportError as exc:  # pragma: no cover - the rehearsal runs in .venv-openclip
        raise RuntimeError(
            f"planting BiomedCLIP needs open_clip ({exc}): run in .venv-openclip "
            f"(`make openclip-setup`)"
        ) from exc
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        bert, model = Path(tmp, "bert"), Path(tmp, "biomedclip")
        bert.mkdir()
        model.mkdir()
        (bert / "config.json").write_bytes(_json(text_config))
        (model / "open_clip_config.json").write_bytes(_json(biomedclip_config(str(bert))))
        torch.manual_seed(seed)
        net = open_clip.create_model(f"local-dir:{model}", pretrained_text=False)
        return net.state_dict()


# ---------------------------------------------------------------------------------------------
# the repositories


def build_repos(words: Sequence[str], seed: int = 0) -> dict[str, Files]:
    """hub id -> {file name: content} for every planted repository (weights included)."""
    repos: dict[str, Files] = {}
    # vision: DINOv2 ViT-B/14 family at 518 px
    cfg = dinov2_config(48)
    repos[HUB_MODELS["rad-dino"]] = {
        "config.json": _json(cfg),
        "model.safetensors": safetensors_bytes(_hf_state(cfg, "Dinov2Model", seed + 1)),
        "preprocessor_config.json": bit_processor(518, 518, RAD_DINO_MEAN, RAD_DINO_STD),
    }
    cfg = dinov2_config(32)
    state = _hf_state(cfg, "Dinov2Model", seed + 2)
    repos[HUB_MODELS["dinov2-base"]] = {
        "config.json": _json(cfg),
        "model.safetensors": safetensors_bytes(state),
        "pytorch_model.bin": torch_bin_bytes(state),
        "preprocessor_config.json": bit_processor(256, 224, IMAGENET_MEAN, IMAGENET_STD),
    }
    # text: uncased BERTs
    vocab = wordpiece_vocab(words, google_layout=False)
    cfg = bert_config(len(vocab), 64, attention_probs_dropout_prob=0.25, hidden_dropout_prob=0.25)
    repos[HUB_MODELS["cxr-bert-general"]] = {
        "config.json": _json(cfg),
        "pytorch_model.bin": torch_bin_bytes(_hf_state(cfg, "BertForMaskedLM", seed + 3)),
        **bert_tokenizer_files(vocab, tokenizer_json=False, max_length=None),
    }
    cfg = bert_config(len(vocab), 48)
    repos[HUB_MODELS["biomedbert"]] = {
        "config.json": _json(cfg),
        "pytorch_model.bin": torch_bin_bytes(_hf_state(cfg, "BertForPreTraining", seed + 4)),
        **bert_tokenizer_files(vocab, tokenizer_json=False, max_length=None),
    }
    google = wordpiece_vocab(words, google_layout=True)
    cfg = bert_config(len(google), 32)
    repos[HUB_MODELS["bert-base"]] = {
        "config.json": _json(cfg),
        "model.safetensors": safetensors_bytes(_hf_state(cfg, "BertForPreTraining", seed + 5)),
        **bert_tokenizer_files(google, tokenizer_json=True, max_length=512),
    }
    # CLIP ViT-B/16 (transformers CLIPModel)
    tok_files, clip_vocab = clip_tokenizer_files(words)
    cfg = clip_config(clip_vocab)
    repos[HUB_MODELS["clip-vit-b16"]] = {
        "config.json": _json(cfg),
        "pytorch_model.bin": torch_bin_bytes(_hf_state(cfg, "CLIPModel", seed + 6)),
        "preprocessor_config.json": clip_processor(),
        **tok_files,
    }
    # BiomedCLIP (open_clip) and the BiomedBERT repo its config names as text tower
    cfg = bert_config(len(vocab), 64)
    text_files = bert_tokenizer_files(vocab, tokenizer_json=False, max_length=None)
    repos[BIOMEDCLIP_TEXT] = {
        "config.json": _json(cfg),
        "pytorch_model.bin": torch_bin_bytes(_hf_state(cfg, "BertForPreTraining", seed + 7)),
        **text_files,
    }
    clip_text = bert_tokenizer_files(vocab, tokenizer_json=True, max_length=None)
    repos[HUB_MODELS["biomedclip"]] = {
        "open_clip_config.json": _json(biomedclip_config(BIOMEDCLIP_TEXT)),
        "open_clip_pytorch_model.bin": torch_bin_bytes(_biomedclip_state(cfg, seed + 8)),
        "special_tokens_map.json": _json(BERT_SPECIAL_TOKENS_MAP),
        **clip_text,
    }
    return repos


# ---------------------------------------------------------------------------------------------
# the Hugging Face cache


def _blob_name(name: str, content: bytes) -> str:
    """sha256 for weights (git-LFS objects), git's blob sha1 for the rest, as the hub names them."""
    if name.endswith((".bin", ".safetensors")):
        return hashlib.sha256(content).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def commit_of(repo: str, files: Files) -> str:
    """A 40-hex commit id that follows the repo id and every file's content."""
    h = hashlib.sha1(repo.encode())
    for name in sorted(files):
        h.update(f"\0{name}\0{_blob_name(name, files[name])}".encode())
    return h.hexdigest()


def plant_repo(hub_cache: Path, repo: str, files: Files) -> Path:
    """Lay ``files`` out in ``hub_cache`` as ``hf download repo`` would; return the snapshot."""
    base = Path(hub_cache) / f"models--{repo.replace('/', '--')}"
    commit = commit_of(repo, files)
    snapshot = base / "snapshots" / commit
    (base / "blobs").mkdir(parents=True, exist_ok=True)
    (base / "refs").mkdir(exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for name, content in sorted(files.items()):
        blob = base / "blobs" / _blob_name(name, content)
        if not blob.is_file():
            tmp = blob.with_suffix(".incomplete")
            tmp.write_bytes(content)
            tmp.replace(blob)
        link = snapshot / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(Path("..", "..", "blobs", blob.name))
    (base / "refs" / "main").write_text(commit)
    return snapshot


def plant_models(hub_cache: Path, *, words: Sequence[str], seed: int = 0) -> dict[str, Path]:
    """Write tiny randomly initialised models in the exact layout of each real hub repo into an
    offline Hugging Face cache (HF_HUB_CACHE layout: models--org--name/{refs/main,snapshots/<40-hex
    commit>/...}), under their real hub ids; return hub id -> snapshot folder. Deterministic for a
    seed.

    ``words``: texts or words whose (lower-cased) words make up the tokenizers' vocabularies.
    Covers every id in ``HUB_MODELS`` and BiomedCLIP's text tower (``BIOMEDCLIP_TEXT``); needs
    transformers, and open_clip + timm for BiomedCLIP (``.venv-openclip``).
    """
    repos = build_repos(words, seed)
    return {repo: plant_repo(Path(hub_cache), repo, files) for repo, files in repos.items()}
