"""Head lab: knock a head out, name what each head does, and test attention against importance.

Michel et al. 2019 (head masks, importance), Voita et al. 2019 (roles, confidence), Abnar & Zuidema 2020 (rollout),
Jain & Wallace 2019 (attention is not explanation). Only the open tool is computed on each keystroke.
"""

import pandas as pd
import streamlit as st

from models.capture_upload import CaptureImportError, from_json
from models.heads import LABEL_LEAD, LABEL_MIN, MIN_QUERY, ROLES, attention_modules, one_char_changed
from ui.cache import get_capture, get_head_importance, get_head_roles, get_leave_one_out, validation_words
from ui.cards import model_card
from ui.charts import chart
from ui.controls import LIVE, text_box
from ui.i18n import _, option_labels, render
from ui.pickers import load_or_explain, model_picker
from ui.text import empty_prompt, escape_md, input_notes
from viz import figures as F
from viz import head_lab_figures, style
from viz.metrics import (
    attention_rollout,
    cross_rollout,
    distribution_comparison,
    head_mean,
    next_token_differences,
    next_token_probs,
    pattern_differences,
)

TOP_K = 8
TOOLS = ("knockout", "roles", "rollout", "changed", "importance")


def role_names() -> dict[str, str]:
    return {
        "previous": _("previous character"),
        "start": _("start token <BOS>"),
        "self": _("itself"),
        "same": _("same character"),
        "first": _("first letter"),
        "next": _("next character (t+1)"),
        "spread": _("spread out"),
        "mixed": _("mixed"),
    }


def module_title(module: str) -> str:
    part, layer = module.split(".")[:2]
    if module.endswith("cross_attn"):
        return _("cross-attention L{layer}").format(layer=layer)
    return {
        "blocks": _("self-attention L{layer}"),
        "encoder": _("encoder L{layer}"),
        "decoder": _("decoder self L{layer}"),
    }[part].format(layer=layer)


def pattern_title(name: str) -> str:
    return module_title(name.removesuffix(".hook_pattern"))


def mean_title(cap, name: str) -> str:
    """'encoder L1 · mean of 3 heads' (the heads not knocked out)."""
    module = name.removesuffix(".hook_pattern")
    n = cap.patterns[name].shape[1] - sum(m == module for m, _h in cap.knocked_out)
    return _("{layer} · mean of {n} head(s)").format(layer=module_title(module), n=n)


def head_title(module: str, head: int) -> str:
    return _("{module} · head {head}").format(module=module_title(module), head=head)


st.title(_("Head lab"))
st.caption(
    _(
        "What is each attention head for? Knock heads out and watch the prediction change, see the role each "
        "head plays on the validation words, and test whether attention agrees with importance."
    )
)

c_text, c_model = st.columns([3, 2], vertical_alignment="bottom")
with c_text:
    text = text_box()  # the shared word and ?text=, as on Explore, Compare and Generate
with c_model:
    name = model_picker("model")  # the shared model and ?model=, as on Explore

uploaded = None
with st.expander(_(":material/folder_open: Open an attention JSON (no model: only the views that need none)")):
    up = st.file_uploader(_("Attention JSON"), type=["json"], key="heads.upload", label_visibility="collapsed")
    if up is not None:
        try:
            uploaded = from_json(up.getvalue(), name=up.name)
        except CaptureImportError as e:
            st.error(_("This file can't be shown: {error}").format(error=escape_md(render(e))))
            st.text(up.name)

if uploaded is not None:
    st.info(
        _(
            "Showing an uploaded attention file (below). It holds attention weights only, no model: knock-out, "
            "importance, head roles, what changed and leave-one-out all run the model, so they are off. "
            "Remove the file to go back to the live model."
        )
    )
    st.text(up.name)
    chart(F.entropy_heatmap(uploaded, title=_("Attention entropy per layer and head"), tr=_), key="heads.json.entropy")
    layers = uploaded.names("blocks")
    panels = [(_("layer {layer}, mean of heads").format(layer=n.split(".")[1]), head_mean(uploaded, n)) for n in layers]
    panels.append((_("rollout over {n} layer(s)").format(n=len(layers)), attention_rollout(uploaded, "blocks")))
    chart(
        head_lab_figures.rollout_figure(panels, uploaded.tgt_tokens, uploaded.tgt_tokens, tr=_),
        key="heads.json.rollout",
    )
    st.stop()

bundle = load_or_explain(name) if name else None
if bundle is None:
    st.stop()
model_card(bundle)

# ---- which heads are knocked out (kept across tools, so every view says what it shows) ----------------------------
modules = attention_modules(bundle.model)
ko_keys = {m: f"heads.ko.{name}.{m}" for m, _n in modules}


def clear_knockouts():
    for k in ko_keys.values():
        st.session_state[k] = []


def knock_out_all():
    for m, n_head in modules:
        st.session_state[ko_keys[m]] = list(range(n_head))


tool = st.segmented_control(
    _("Tool"),
    TOOLS,
    key="heads.tool",
    required=True,
    format_func={
        "knockout": _("Knock-out"),
        "roles": _("Head roles"),
        "rollout": _("Rollout"),
        "changed": _("What changed"),
        "importance": _("Attention vs importance"),
    }.__getitem__,
)

knocked_out: list[tuple[str, int]] = []
with st.container(border=True):
    t1, b1, b2 = st.columns([5, 1.1, 0.8], vertical_alignment="center")
    t1.markdown(_("**Knock out heads**: each head's output × 0 in the forward pass; the model itself is untouched."))
    b1.button(_("Knock out all"), on_click=knock_out_all, key="heads.ko.all", width="stretch")
    b2.button(_("Reset"), on_click=clear_knockouts, key="heads.ko.reset", width="stretch")
    cols = st.columns(min(3, len(modules)))
    for i, (m, n_head) in enumerate(modules):
        with cols[i % len(cols)]:
            picked = st.pills(
                module_title(m),
                list(range(n_head)),
                selection_mode="multi",
                key=ko_keys[m],
                format_func=option_labels(range(n_head), lambda h: _("head {h}").format(h=h)),
            )
            knocked_out += [(m, h) for h in picked or []]
knocked_out = sorted(knocked_out)

cap = get_capture(name, text)  # the intact model
cap_ko = get_capture(name, text, knocked_out=knocked_out) if knocked_out else cap
if not text:
    empty_prompt()
input_notes(cap)
if knocked_out and tool != "knockout":
    st.info(_("{n} head(s) knocked out: the views below show the model without them.").format(n=len(knocked_out)))
silenced = [m for m, n_head in modules if sum(1 for k, _h in knocked_out if k == m) == n_head]
if silenced:
    st.caption(
        _(
            "Every head of {layers} knocked out: no position reads another there, but the layer is not "
            "removed. Its output projection still adds its bias (the same vector at every position), and its "
            "feed-forward and LayerNorm still run."
        ).format(layers=", ".join(module_title(m) for m in silenced))
    )

# ---- 1. knock-out ---------------------------------------------------------------------------------------------------
if tool == "knockout":
    last = _("“{token}”").format(token=style.label(cap.tgt_tokens[-1]))  # a plotly title: "<BOS>" escaped
    p_all = next_token_probs(cap.next_token_logits())
    p_ko = next_token_probs(cap_ko.next_token_logits())
    left, right = st.columns(2, gap="large")
    chart(
        F.next_token_bars(
            p_all, bundle.vocab, top_k=TOP_K, title=_("All heads: next after {last}").format(last=last), tr=_
        ),
        key="heads.bars.before",
        container=left,
    )
    chart(
        F.next_token_bars(
            p_ko, bundle.vocab, top_k=TOP_K, title=_("{n} head(s) knocked out").format(n=len(knocked_out)), tr=_
        ),
        key="heads.bars.after",
        container=right,
    )
    cmp = distribution_comparison(p_all, p_ko)
    char = lambda i: style.char_label(bundle.vocab.itos[i], tr=_)
    if not knocked_out:
        st.caption(_("Pick heads above to knock them out; the right-hand bars then show the model without them."))
    else:
        st.caption(
            _(
                "Top choice: {a} ({pa:.0%}) with all heads, {b} ({pb:.0%}) without. KL(all ‖ knocked out) = "
                "{kl:.3f} nats."
            ).format(
                a=char(cmp["top1_left"]),
                pa=float(p_all[cmp["top1_left"]]),
                b=char(cmp["top1_right"]),
                pb=float(p_ko[cmp["top1_right"]]),
                kl=cmp["kl_left_right"],
            )
        )
    st.subheader(_("Which heads matter"))
    words = validation_words()
    if not words:
        st.warning(_("The word list data/words.txt is missing, so there are no validation words to score heads on."))
    else:
        with st.spinner(_("Knocking out each head in turn on the validation words…")):
            base, rows = get_head_importance(name)
            roles = {(r.module, r.head): r for r in get_head_roles(name)}
        names_ = role_names()
        st.caption(
            _(
                "Honest (prefix-only) NLL on the {n} validation words: {base:.3f} nats/char with every head. "
                "Each row knocks out that head alone; a positive change means the model needs the head, near 0 "
                "means the others cover for it, negative means it does better without it. Computed once per "
                "checkpoint."
            ).format(n=len(words), base=base)
        )
        st.dataframe(
            pd.DataFrame(
                {
                    _("head"): [head_title(r.module, r.head) for r in rows],
                    _("NLL change"): [r.delta for r in rows],
                    _("NLL without it"): [r.nll for r in rows],
                    _("role (Head roles tool)"): [names_[roles[r.module, r.head].label] for r in rows],
                }
            ),
            hide_index=True,
            key="heads.importance",
            height=36 + 35 * len(rows),
            column_config={
                _("NLL change"): st.column_config.NumberColumn(format="%+.4f"),
                _("NLL without it"): st.column_config.NumberColumn(format="%.4f"),
            },
        )

# ---- 2. roles -------------------------------------------------------------------------------------------------------
elif tool == "roles":
    names_ = role_names()
    with st.spinner(_("Scoring every head on the validation words…")):
        roles = get_head_roles(name)
    notes: dict[str, list[str]] = {}
    for r in roles:
        best = max((v, k) for k, v in r.scores.items() if v == v)
        line = (
            f"{names_[r.label]} {r.scores[r.label]:.2f}"
            if r.label != "mixed"
            else _("mixed ({role} {score:.2f})").format(role=names_[best[1]], score=best[0])
        )
        notes.setdefault(r.module + ".hook_pattern", []).append(line)
    chart(
        F.entropy_heatmap(
            cap_ko,
            notes=notes,
            off_label=_("knocked out"),
            title=_("Entropy on this word, with each head's role on the validation words"),
            tr=_,
        ),
        key="heads.roles.entropy",
    )
    st.caption(
        _(
            "A head is named only when its best role scores at least {min:.2f} and leads the next by {lead:.2f} "
            "or more; otherwise it is “mixed” and its strongest role is shown in brackets. A fixed threshold "
            "alone would name most heads after whatever role happens to be largest."
        ).format(min=LABEL_MIN, lead=LABEL_LEAD)
    )
    table = {
        _("head"): [head_title(r.module, r.head) for r in roles],
        _("role"): [names_[r.label] for r in roles],
        _("confidence"): [r.confidence for r in roles],
    }
    for role in ROLES:
        if any(r.scores[role] == r.scores[role] for r in roles):  # "next" is NaN for every masked head
            table[names_[role]] = [r.scores[role] for r in roles]
    fmt = {c: st.column_config.NumberColumn(format="%.2f") for c in list(table)[2:]}
    st.dataframe(
        pd.DataFrame(table), hide_index=True, key="heads.roles.table", column_config=fmt, height=36 + 35 * len(roles)
    )
    st.caption(
        _(
            "Each score is the share of a query's attention that fits the role, averaged over the validation "
            "words' queries at position {t} or later (where <BOS>, the first letter, the previous character "
            "and the query itself are four different keys). “Spread out” is the overlap with an even spread, "
            "0 for one key and 1 for even. Confidence (Voita et al. 2019) is the mean of each query's largest "
            "weight, over every query that can see at least two keys: the first row under a causal mask, whose "
            "one key always gets 1, is left out. “Next character” exists only where the mask lets a query see "
            "ahead."
        ).format(t=MIN_QUERY)
    )

# ---- 3. rollout -----------------------------------------------------------------------------------------------------
elif tool == "rollout":
    st.caption(
        _(
            "Attention rollout (Abnar & Zuidema 2020) multiplies the layers' head-averaged attention, each mixed "
            "half-and-half with the identity for the residual connection: an **approximation** of how much each "
            "input position flows into each output position. It ignores the values, the feed-forward layers and "
            "the LayerNorms, and was designed for encoders. Under a causal mask position t can only collect "
            "from positions ≤ t, and early positions are visible to every later row, so rollout piles weight on "
            "<BOS> and the first letters more than the raw patterns do."
        )
        + " "
        + _(
            "A layer whose heads are all knocked out counts as the identity here (residual only), yet it still "
            "adds its output projection's bias and runs its feed-forward layer: rollout leaves those out."
        )
    )
    for family in cap_ko.square_families():
        layers = cap_ko.names(family)
        panels = [(mean_title(cap_ko, n), head_mean(cap_ko, n)) for n in layers]
        panels.append((_("rollout over {n} layer(s)").format(n=len(layers)), attention_rollout(cap_ko, family)))
        q_tok, k_tok = cap_ko.axes(layers[0])
        chart(
            head_lab_figures.rollout_figure(
                panels,
                q_tok,
                k_tok,
                title=_("{kind}: raw attention beside its rollout").format(
                    kind={
                        "blocks": _("Self-attention"),
                        "encoder": _("Encoder"),
                        "decoder": _("Decoder self-attention"),
                    }[family]
                ),
                tr=_,
            ),
            key=f"heads.rollout.{family}",
        )
    if cap_ko.is_seq2seq:
        last = cap_ko.names("cross")[-1]
        panels = [
            (mean_title(cap_ko, last), head_mean(cap_ko, last)),
            (_("through the encoder's rollout"), cross_rollout(cap_ko)),
        ]
        chart(
            head_lab_figures.rollout_figure(
                panels,
                cap_ko.tgt_tokens,
                cap_ko.src_tokens,
                x_title=_("source key"),
                y_title=_("decoder query"),
                title=_("Cross-attention, raw and carried through the encoder"),
                tr=_,
            ),
            key="heads.rollout.cross",
        )

# ---- 4. what changed ------------------------------------------------------------------------------------------------
elif tool == "changed":
    other = st.text_input(
        _("Second input B (empty: the typed word with its middle character changed)"),
        key="heads.text_b",
        live=LIVE,
        placeholder=one_char_changed(text) or None,
    )
    text_b = other or one_char_changed(text)
    cap_b = get_capture(name, text_b, knocked_out=knocked_out)
    st.caption(_("A = the typed word, B = the second input:"))
    st.code(f"A: {text}\nB: {text_b}", language=None)
    if not text:
        st.info(_("Type a word above: B is then that word with its middle character changed."))
    else:
        if len(cap_ko.tgt_tokens) != len(cap_b.tgt_tokens):
            st.info(
                _("A and B have different lengths: compared over the first {n} positions.").format(
                    n=min(len(cap_ko.tgt_tokens), len(cap_b.tgt_tokens))
                )
            )
        diff = next_token_differences(cap_ko, cap_b)
        chart(
            head_lab_figures.next_token_diff_heatmap(diff, cap_ko, cap_b, bundle.vocab, tr=_), key="heads.changed.next"
        )
        diffs = pattern_differences(cap_ko, cap_b)
        chart(
            head_lab_figures.diff_heatmaps(
                diffs, cap_ko, cap_b, tr=_, row_titles={n: module_title(n.removesuffix(".hook_pattern")) for n in diffs}
            ),
            key="heads.changed.patterns",
        )
        st.caption(
            _(
                "Purple: A attends (or predicts) more; orange: B does; white: no change. With a causal mask "
                "every row before the changed character is exactly 0: those positions cannot see it."
            )
        )
        if bundle.peeking:
            st.caption(
                _(
                    "The peeking model's rows change one position *before* the changed character: its "
                    "unmasked encoder lets position t read the character at t+1, the answer it should predict."
                )
            )

# ---- 5. attention vs importance -------------------------------------------------------------------------------------
else:
    if not text:
        st.info(_("Type a word above: each of its characters is then replaced by <UNK> in turn."))
    else:
        loo = get_leave_one_out(name, text, tuple(knocked_out))
        names = cap_ko.names()
        default = cap_ko.names("cross")[-1] if cap_ko.is_seq2seq else names[-1]
        p1, p2 = st.columns(2)
        pattern = p1.selectbox(
            _("Attention of"),
            names,
            index=names.index(default),
            format_func=option_labels(names, pattern_title),
            key="heads.loo.pattern",
        )
        n_head = cap_ko.patterns[pattern].shape[1]
        heads = ["mean"] + list(range(n_head))
        head = p2.selectbox(
            _("Head"),
            heads,
            key="heads.loo.head",
            format_func=option_labels(
                heads, lambda h: _("mean of heads") if h == "mean" else _("head {h}").format(h=h)
            ),
        )
        row = (head_mean(cap_ko, pattern) if head == "mean" else cap_ko.patterns[pattern][0, head])[-1]
        chart(
            head_lab_figures.attention_vs_importance(
                loo.tokens,
                row,
                [None] + list(loo.delta[1:]),  # <BOS> is never replaced
                top=bundle.vocab.itos[loo.top],
                p_top=loo.p_top,
                pattern_label=pattern_title(pattern),
                tr=_,
            ),
            key="heads.loo.chart",
        )
        st.caption(
            _(
                "Why they can disagree: attention says where one head reads from, not how much that reading "
                "changes the answer — other heads, later layers and the residual stream carry the same "
                "information, so a key with a large weight can be unimportant and an ignored one can matter "
                "(Jain & Wallace 2019)."
            )
        )
