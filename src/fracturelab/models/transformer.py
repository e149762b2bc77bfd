"""A small decoder-only transformer (nanoGPT-style: pre-LN, GELU MLP, tied embeddings) with a choice of position
encoding.

Sequence = src + <sep> + tgt + <eos>; the model reads it shifted by one and the loss is on the tgt and <eos>
positions only. Evaluation decodes greedily after <sep> with a key/value cache. Exact match under teacher forcing
(every scored argmax right) is the same event as greedy decoding reproducing the target, so accuracy needs one
forward pass and only wrong examples need decoding to show what the model wrote.

Position encodings (`pos`, registry POSITIONS): learned absolute embeddings (GPT-2), fixed sinusoids added to the
input (Vaswani et al. 2017), RoPE (Su et al. 2021: q and k rotated by position before the dot product), ALiBi (Press
et al. 2022: a fixed per-head linear penalty on distance added to the attention scores) and none (NoPE: only the
causal mask tells positions apart; Kazemnejad et al. 2023). `pos_shift` is the control for untrained positions:
while training, each row's positions are shifted by a random offset, so every position up to the longest test
sequence is trained; RoPE, ALiBi and NoPE only see relative positions, so for them the shift changes nothing.

Shapes: B = batch, T = positions, d = d_model, H = heads, hd = d / H, V = joint vocabulary (PAD, EOS, SEP, then the
rest). Named activations (all (B, T, units), T = the teacher-forced positions; batch["sep"] is each row's <sep>
index): embed, block{i}.attn (attention output), block{i}.mlp (MLP hidden after GELU, 4d), block{i} (residual stream
after the block), ln_f (final LayerNorm), logits.

Transformer.stacked_loss is loss() for K networks of one shape at once (population training, train.population): the
same forward written out with batched matmuls over the K networks' stacked weights, checked against each network's own
loss and gradient in tests/test_population_transformer.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import FracturelabError
from ..tasks.base import EOS, PAD, Example
from .data import IGNORE, SEP, DataSpec, mean_nll, pad_rows, record_activations

POSITIONS: dict[str, str] = {
    "learned": "learned absolute embeddings added to the input (GPT-2)",
    "sinusoidal": "fixed sine/cosine embeddings added to the input (Vaswani et al. 2017)",
    "rope": "rotary: q and k rotated by their positions (Su et al. 2021)",
    "alibi": "a per-head linear distance penalty on the attention scores (Press et al. 2022)",
    "none": "no position information but the causal mask (NoPE, Kazemnejad et al. 2023)",
}
"""Position encodings: name -> what it is."""
ABSOLUTE = ("learned", "sinusoidal")
"""Encodings that read absolute positions (the only ones pos_shift changes)."""


@dataclass
class TransformerSettings:
    """Settings of the decoder-only transformer."""

    d_model: int = 128
    """Residual width (before scale; rounded to a multiple of n_head)."""
    n_layer: int = 2
    """Number of transformer blocks (the depth knob)."""
    n_head: int = 4
    """Attention heads per block."""
    scale: float = 1.0
    """Multiplies d_model (the width knob of scaling sweeps)."""
    dropout: float = 0.0
    """Dropout on attention and MLP outputs (0 keeps training deterministic given the seed)."""
    pos: str = "learned"
    """Position encoding (POSITIONS): learned, sinusoidal, rope, alibi or none."""
    pos_shift: bool = False
    """While training, shift each row's positions by a random offset in [0, block_size - T] (seeded by the model's
    seed), so positions beyond the longest training example are trained too: the control separating untrained
    positions from failures of composition. Evaluation uses positions from 0."""

    def check(self) -> None:
        if self.d_model < 1 or self.n_layer < 1 or self.n_head < 1 or not self.scale > 0 or not 0 <= self.dropout < 1:
            raise FracturelabError(f"bad transformer settings: sizes >= 1, scale > 0, dropout in [0, 1) (got {self})")
        if self.pos not in POSITIONS:
            raise FracturelabError(f"unknown position encoding pos={self.pos!r} (choose from: {', '.join(POSITIONS)})")

    def width(self) -> int:
        """The residual width used: d_model x scale rounded to a multiple of n_head."""
        return max(self.n_head, round(self.d_model * self.scale / self.n_head) * self.n_head)

    def n_params(self, spec: DataSpec) -> int:
        """Weights of the transformer built on spec, counted without building it (12 d^2 + 13 d per block, the tied
        token table, learned positions, the final norm)."""
        d = self.width()
        vocab = len((set(spec.src_vocab) | set(spec.tgt_vocab)) - {PAD, EOS, SEP}) + 3
        block = spec.max_src + 1 + spec.max_tgt if self.pos == "learned" else 0
        return (vocab + block) * d + self.n_layer * (12 * d * d + 13 * d) + 2 * d


def sinusoids(pos: torch.Tensor, d: int) -> torch.Tensor:
    """Vaswani et al.'s table at integer positions pos (B, T) -> (B, T, d): channel 2i is sin(p / 10000^(2i/d)),
    channel 2i + 1 its cosine."""
    inv = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)  # (ceil(d/2),)
    ang = pos[..., None].float() * inv  # (B, T, ceil(d/2))
    return torch.stack([ang.sin(), ang.cos()], -1).flatten(-2)[..., :d]


def rope_angles(pos: torch.Tensor, hd: int) -> torch.Tensor:
    """RoPE's rotation angles p * theta_i, theta_i = 10000^(-2i/hd): pos (B, T) -> (B, 1, T, hd/2) (the 1 is heads)."""
    theta = 10000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)  # (hd/2,)
    return (pos[..., None].float() * theta)[:, None]


def rotate(x: torch.Tensor, ang: torch.Tensor) -> torch.Tensor:
    """Rotate each channel pair (2i, 2i+1) of x (B, H, T, hd) by ang (B, 1, T, hd/2), as in Su et al. (eq. 34)."""
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)  # (B, H, T, hd/2) each
    cos, sin = ang.cos(), ang.sin()
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1).flatten(-2)


def alibi_slopes(n_head: int) -> torch.Tensor:
    """Press et al.'s head slopes: 2^(-8/n), 2^(-16/n), ... for n a power of two; otherwise those of the power of two
    below, then every other slope of the power of two above (their reference code). (H,)"""
    def geometric(n):
        return [2.0 ** (-8.0 * (i + 1) / n) for i in range(n)]
    low = 2 ** int(math.floor(math.log2(n_head)))
    slopes = geometric(low) + geometric(2 * low)[0::2][: n_head - low]
    return torch.tensor(slopes)


def alibi_bias(slopes: torch.Tensor, T: int, S: int) -> torch.Tensor:
    """Additive attention mask of T queries at positions S-T..S-1 over S keys at 0..S-1: -slope * (query - key) where
    the key is not in the future, -inf where it is. (H, T, S)"""
    q = torch.arange(S - T, S)[:, None]  # (T, 1)
    k = torch.arange(S)[None, :]  # (1, S)
    dist = (k - q).float()  # (T, S), <= 0 for visible keys
    return (slopes[:, None, None] * dist).masked_fill(k > q, float("-inf"))


class CausalSelfAttention(nn.Module):
    def __init__(self, d: int, n_head: int, dropout: float, pos: str):
        super().__init__()
        self.n_head, self.dropout, self.pos = n_head, dropout, pos
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        if pos == "alibi":  # fixed, not learned: a buffer outside the state_dict
            self.register_buffer("slopes", alibi_slopes(n_head), persistent=False)

    def forward(self, x: torch.Tensor, cache: dict | None = None, rope: torch.Tensor | None = None) -> torch.Tensor:
        B, T, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(B, T, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))  # (B, H, T, hd)
        if rope is not None:  # before caching: cached keys keep the rotation of their own positions
            q, k = rotate(q, rope), rotate(k, rope)
        causal = True  # the prompt (or a whole sequence): each position sees itself and the ones before
        if cache is not None:  # decoding: keys and values of earlier positions come from the cache
            if "k" in cache:  # one new position, which may see every cached one
                assert T == 1, "a cached forward takes one new position at a time"
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
                causal = False
            cache["k"], cache["v"] = k, v
        mask = None
        if self.pos == "alibi":  # the causal mask travels inside the float bias (SDPA takes one or the other)
            mask, causal = alibi_bias(self.slopes, T, k.shape[2]).to(q.dtype), False  # (H, T, S)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                           dropout_p=self.dropout if self.training else 0.0)  # (B, H, T, hd)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, d))


class Block(nn.Module):
    def __init__(self, d: int, n_head: int, dropout: float, pos: str):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, n_head, dropout, pos)
        self.c_fc, self.c_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, cache=None, acts=None, name="", rope=None):
        a = self.attn(self.ln_1(x), cache, rope)  # (B, T, d)
        x = x + self.drop(a)
        h = F.gelu(self.c_fc(self.ln_2(x)))  # (B, T, 4d)
        x = x + self.drop(self.c_proj(h))
        if acts is not None:
            acts[f"{name}.attn"], acts[f"{name}.mlp"], acts[name] = a, h, x
        return x


class Transformer(nn.Module):
    def __init__(self, spec: DataSpec, settings: TransformerSettings):
        super().__init__()
        settings.check()
        self.spec, self.settings = spec, settings
        H, d = settings.n_head, settings.width()
        self.vocab = [PAD, EOS, SEP] + sorted((set(spec.src_vocab) | set(spec.tgt_vocab)) - {PAD, EOS, SEP})
        self.ids = {t: i for i, t in enumerate(self.vocab)}
        self.block_size = spec.max_src + 1 + spec.max_tgt  # longest input: src, sep, tgt (eos is only predicted)
        if settings.pos == "rope" and (d // H) % 2:
            raise FracturelabError(f"pos='rope' rotates channel pairs: the head width d_model/n_head = {d // H} must "
                                   f"be even")
        self.wte = nn.Embedding(len(self.vocab), d)
        if settings.pos == "learned":  # the only encoding with parameters
            self.wpe = nn.Embedding(self.block_size, d)
        self.drop = nn.Dropout(settings.dropout)
        self.blocks = nn.ModuleList(Block(d, H, settings.dropout, settings.pos) for _ in range(settings.n_layer))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, len(self.vocab), bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as in GPT-2
        for name, p in self.named_parameters():  # GPT-2 init: N(0, 0.02), residual projections scaled by depth
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * settings.n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
        # pos_shift's offsets: a generator of their own, seeded from the model's seed after every weight is drawn
        # (so the weights are those of the same model without it)
        self.shift_rng = torch.Generator().manual_seed(int(torch.randint(0, 2**62, ())))

    # --- data -------------------------------------------------------------------------------------------------------
    def encode(self, examples: Sequence[Example]) -> dict:
        """x: (B, T) src + sep + tgt padded with PAD; y: (B, T) next tokens, IGNORE except at tgt and eos;
        sep: (B,) position of <sep>."""
        ids = self.ids
        seqs = [[ids[t] for t in e.src] + [ids[SEP]] + [ids[t] for t in e.tgt] + [ids[EOS]] for e in examples]
        T = max(len(s) for s in seqs) - 1
        x = pad_rows([s[:-1] for s in seqs], T, ids[PAD])
        y = pad_rows([[IGNORE] * len(e.src) + s[len(e.src) + 1 :] for e, s in zip(examples, seqs)], T, IGNORE)
        sep = torch.tensor([len(e.src) for e in examples])
        return {"x": x, "y": y, "sep": sep}

    # --- model ------------------------------------------------------------------------------------------------------
    def forward(self, batch: dict, acts: dict | None = None) -> torch.Tensor:
        """batch["x"] (B, T) -> logits (B, T, V)."""
        return self._run(batch["x"], acts=acts)

    def positions(self, B: int, T: int, pos0: int = 0) -> torch.Tensor:
        """Position indices (B, T): pos0, pos0 + 1, ... for every row; while training with pos_shift, each row shifted
        by its own random offset in [0, block_size - T]."""
        pos = torch.arange(pos0, pos0 + T).expand(B, T)
        if self.training and self.settings.pos_shift and self.settings.pos in ABSOLUTE:
            pos = pos + torch.randint(0, self.block_size - pos0 - T + 1, (B, 1), generator=self.shift_rng)
        return pos

    def _run(self, idx, cache: list | None = None, pos0: int = 0, acts: dict | None = None) -> torch.Tensor:
        B, T = idx.shape
        if pos0 + T > self.block_size:
            raise FracturelabError(f"sequence of {pos0 + T} tokens is longer than the model's {self.block_size}")
        pos, kind = self.positions(B, T, pos0), self.settings.pos  # (B, T)
        x = self.wte(idx)  # (B, T, d)
        if kind == "learned":
            x = x + self.wpe(pos)
        elif kind == "sinusoidal":  # scaled to the learned table's init (entries of RMS 0.02), not to swamp tokens
            x = x + sinusoids(pos, x.shape[-1]) * (0.02 * math.sqrt(2))
        rope = rope_angles(pos, x.shape[-1] // self.settings.n_head) if kind == "rope" else None  # (B, 1, T, hd/2)
        x = self.drop(x)
        if acts is not None:
            acts["embed"] = x
        for i, block in enumerate(self.blocks):
            x = block(x, None if cache is None else cache[i], acts, f"block{i}", rope)
        x = self.ln_f(x)
        logits = self.lm_head(x)  # (B, T, V)
        if acts is not None:
            acts["ln_f"], acts["logits"] = x, logits
        return logits

    def loss(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean cross-entropy over tgt and eos positions, and teacher-forced exact match per example (B,) bool."""
        logits = self(batch)
        y = batch["y"]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE)
        exact = ((logits.detach().argmax(-1) == y) | (y == IGNORE)).all(dim=1)
        return loss, exact

    # --- many networks at once -------------------------------------------------------------------------------------
    def check_stackable(self) -> None:
        """Refuse (one line) a configuration stacked_loss cannot follow: dropout and pos_shift draw random numbers
        from this one model's generators inside the forward pass."""
        if self.settings.dropout or (self.settings.pos_shift and self.settings.pos in ABSOLUTE):
            raise FracturelabError("the transformer's stacked_loss needs dropout = 0 and pos_shift off (their random "
                                   "draws cannot follow each network's own)")

    def stacked_loss(self, params: dict[str, torch.Tensor], batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """loss() of K networks of this shape at once: params {name: (K, *shape)} as named_parameters() (the tied
        head is wte.weight), batch {"x": (K, B, T), "y": (K, B, T)} -> (loss (K,), exact (K, B)). _run's arithmetic
        (positions 0..T-1, no cache) with batched matmuls over K, attention as the softmax of masked scores, to float
        rounding; this module's buffers (ALiBi's slopes) serve all K networks."""
        self.check_stackable()
        idx, y = batch["x"], batch["y"]
        K, B, T = idx.shape
        if T > self.block_size:
            raise FracturelabError(f"sequence of {T} tokens is longer than the model's {self.block_size}")
        wte, kind, H = params["wte.weight"], self.settings.pos, self.settings.n_head  # wte (K, V, d)
        V, d = wte.shape[1:]
        x = F.embedding(idx + V * torch.arange(K)[:, None, None], wte.flatten(0, 1))  # (K, B, T, d)
        pos = torch.arange(T)[None]  # (1, T)
        if kind == "learned":
            x = x + params["wpe.weight"][:, None, :T]
        elif kind == "sinusoidal":
            x = x + sinusoids(pos, d) * (0.02 * math.sqrt(2))
        ang = rope_angles(pos, d // H) if kind == "rope" else None  # (1, 1, T, hd/2)
        rope = torch.polar(torch.ones_like(ang), ang) if ang is not None else None
        mask = (alibi_bias(self.blocks[0].attn.slopes, T, T) if kind == "alibi"
                else torch.zeros(T, T).masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf")))
        x = x.reshape(K, B * T, d)
        for i in range(len(self.blocks)):
            head = f"blocks.{i}."
            x = _stacked_block(x, {n[len(head):]: w for n, w in params.items() if n.startswith(head)}, B, H, rope, mask)
        logits = _normed_linear(x, (params["ln_f.weight"], params["ln_f.bias"]), wte)  # (K, B*T, V), tied head
        exact = ((logits.detach().argmax(-1).view(K, B, T) == y) | (y == IGNORE)).all(-1)
        return mean_nll(logits, y.reshape(K, B * T)), exact

    @torch.no_grad()
    def predict(self, batch: dict) -> list[tuple[str, ...]]:
        """Greedy decoding after each row's <sep>, up to <eos> or max_tgt + 1 tokens."""
        out: list = [None] * len(batch["x"])
        P = batch["sep"] + 1  # prompt lengths: src and <sep>
        for p in sorted(set(P.tolist())):  # rows with equal prompt length decode together (positions stay aligned)
            rows = torch.nonzero(P == p).flatten()
            for r, toks in zip(rows.tolist(), self._greedy(batch["x"][rows, :p])):
                out[r] = toks
        return out

    def _greedy(self, prompt: torch.Tensor) -> list[tuple[str, ...]]:
        B, P = prompt.shape
        cache = [dict() for _ in self.blocks]
        logits = self._run(prompt, cache)[:, -1]  # (B, V)
        eos = self.ids[EOS]
        gen, done = [], torch.zeros(B, dtype=torch.bool)
        n = min(self.block_size - P + 1, self.spec.max_tgt + 1)  # at most the longest target + eos, within block_size
        for k in range(n):
            nxt = logits.argmax(-1)  # (B,)
            gen.append(nxt)
            done |= nxt == eos
            if done.all() or k == n - 1:  # the last token needs no forward pass (nor room for one)
                break
            logits = self._run(nxt[:, None], cache, pos0=P + k)[:, -1]
        rows = torch.stack(gen, 1).tolist()
        return [tuple(self.vocab[i] for i in (r[: r.index(eos)] if eos in r else r)) for r in rows]

    def named_activations(self, batch) -> dict[str, torch.Tensor]:
        """{layer name: (B, T, units)} on the teacher-forced input; batch = encoded dict or a list of Examples."""
        return record_activations(self, batch)


# --- K networks at once (Transformer.stacked_loss): the forward above written out with batched matmuls over K -------
class _Linear(torch.autograd.Function):
    """K nn.Linear layers, with an optional residual: res + x @ w^T + b per network. x (K, N, in), w (K, out, in),
    b (K, out), res (K, N, out) or None. The bias is added after the product (a broadcast bias inside baddbmm costs a
    copy and a slower product); w's gradient comes out row-major like w, as stacked.linear's."""

    @staticmethod
    def forward(ctx, x, w, b, res):
        ctx.save_for_backward(x, w)
        ctx.res = res is not None
        if res is None:
            return torch.bmm(x, w.mT.contiguous()).add_(b[:, None])
        return torch.baddbmm(res + b[:, None], x, w.mT.contiguous())

    @staticmethod
    def backward(ctx, g):  # g (K, N, out)
        x, w = ctx.saved_tensors
        gx = torch.bmm(g, w) if ctx.needs_input_grad[0] else None
        return gx, torch.bmm(g.mT, x), g.sum(1), g if ctx.res else None


def _normed_linear(x: torch.Tensor, norm: tuple, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Linear (w, b) of LayerNorm (norm = its weight and bias, (K, in) each) of x (K, N, in), for K networks. The norm's
    affine is folded into the linear layer, W (x^ g + beta) + b = (W diag g) x^ + (W beta + b): the same function to
    float rounding, with no pass over the activations for it."""
    g, beta = norm
    shift = torch.bmm(w, beta[:, :, None]).squeeze(-1)  # (K, out)
    return _Linear.apply(F.layer_norm(x, x.shape[-1:]), w * g[:, None], shift if b is None else shift + b, None)


class _Heads(torch.autograd.Function):
    """qkv (K, B*T, 3d) -> q, k, v (K*B, H, T, hd) each, in one copy; q and k rotated by rope (complex e^(i angle),
    broadcasting against (T, hd/2)) when given: RoPE's rotation of channel pairs as one complex product."""

    @staticmethod
    def forward(ctx, qkv, B: int, H: int, rope):
        K, N, d3 = qkv.shape
        ctx.shape, ctx.rope = (K, B, N // B, H, d3 // (3 * H)), rope
        out = torch.empty(3, K * B, H, N // B, d3 // (3 * H), dtype=qkv.dtype)
        out.copy_(qkv.view(K * B, N // B, 3, H, -1).permute(2, 0, 3, 1, 4))
        if rope is not None:
            torch.view_as_complex(out[:2].unflatten(-1, (-1, 2))).mul_(rope)
        return out.unbind(0)

    @staticmethod
    def backward(ctx, gq, gk, gv):  # the rotation's adjoint is the conjugate rotation
        K, B, T, H, hd = ctx.shape
        g = torch.empty(K * B, T, 3, H, hd, dtype=gv.dtype)
        to = g.permute(2, 0, 3, 1, 4)  # (3, K*B, H, T, hd)
        if ctx.rope is not None:
            gqk = torch.stack([gq, gk])  # contiguous, so the conjugate rotation runs in place
            torch.view_as_complex(gqk.unflatten(-1, (-1, 2))).mul_(ctx.rope.conj())
            to[:2].copy_(gqk)
        else:
            to[0].copy_(gq)
            to[1].copy_(gk)
        to[2].copy_(gv)
        return g.view(K, B * T, -1), None, None, None


class _Softmax(torch.autograd.Function):
    """softmax(scale * s + mask) over the last dim, written out: torch's softmax kernel is several times slower on
    rows of a few keys."""

    @staticmethod
    def forward(ctx, s, scale: float, mask):
        z = torch.add(mask, s, alpha=scale)
        z = z.sub_(z.amax(-1, keepdim=True)).exp_()
        y = z.div_(z.sum(-1, keepdim=True))
        ctx.save_for_backward(y)
        ctx.scale = scale
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return (g - (g * y).sum(-1, keepdim=True)).mul_(y).mul_(ctx.scale), None, None


def _stacked_block(x: torch.Tensor, p: dict, B: int, H: int, rope, mask: torch.Tensor) -> torch.Tensor:
    """Block.forward of K networks (no cache, no dropout): x (K, B*T, d) -> (K, B*T, d); p the block's parameters
    (K, ...) by their names in the block; rope as _Heads takes it or None; mask (T, T) or (H, T, T), added to the
    scores, -inf where a key is in the future."""
    K, N, d = x.shape
    qkv = _normed_linear(x, (p["ln_1.weight"], p["ln_1.bias"]), p["attn.c_attn.weight"], p["attn.c_attn.bias"])
    q, k, v = _Heads.apply(qkv, B, H, rope)  # (K*B, H, T, hd) each
    att = _Softmax.apply(q @ k.mT, 1.0 / math.sqrt(d // H), mask)  # (K*B, H, T, T), SDPA's default scale
    y = (att @ v).transpose(1, 2).reshape(K, N, d)
    x = _Linear.apply(y, p["attn.c_proj.weight"], p["attn.c_proj.bias"], x)
    h = F.gelu(_normed_linear(x, (p["ln_2.weight"], p["ln_2.bias"]), p["c_fc.weight"], p["c_fc.bias"]))  # (K, N, 4d)
    return _Linear.apply(h, p["c_proj.weight"], p["c_proj.bias"], x)
