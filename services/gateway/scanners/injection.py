"""Prompt injection and jailbreak: a linear model over n-grams plus named attack patterns,
backed by the attack head on the prompt embedding (`semantic.py`) where the words are not decisive.

The patterns (instruction overrides, prompt extraction, "unrestricted" personas, instructions
aimed at the model's own response, code to be slipped into an answer, and the marks of an
indirect injection: text that speaks to the AI reading it, exfiltration) are features of the
model, not verdicts on their own: benign prompts say "ignore" and "bypass" all the time, and the
weights learned in `train.py` decide how much each pattern counts in context.
A persona jailbreak that takes the model's refusals away (`refusal.py`) is decisive on its own.
In third-party content (a tool result) the heads weigh in only where an attack pattern speaks to the
model: they learned prompts, and a whole e-mail or answer full of requests to its human reader reads
like one (docs/safety.md, "E-mails and code answers as tool content").
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

from services.gateway.scanners.base import Finding, Stage, Verdict
from services.gateway.scanners.config import ScannerSettings
from services.gateway.scanners.extraction import asks_for_its_setup
from services.gateway.scanners.findings import verdict_from_findings
from services.gateway.scanners.refusal import suppresses_refusals
from services.gateway.scanners.semantic import SemanticModels, TextContext
from services.gateway.scanners.textmodel import LinearTextModel, features

__all__ = [
    "ADDRESSES_THE_MODEL",
    "DECISIVE_PATTERNS",
    "INJECTION_MODEL_PATH",
    "PATTERN_NAMES",
    "UNADDRESSED_CEILING",
    "PromptInjectionScanner",
    "attack_signals",
    "injection_patterns",
]

INJECTION_MODEL_PATH = Path(__file__).parent / "models" / "prompt_injection.json"

_INSTRUCTIONS = r"(?:instructions?|prompts?|prompting|rules|guidelines|directions|directives|orders|context|evidence|programming|information|content)"
# Names for an AI model, not for a person: "a note to the assistant" is ordinary office talk.
_AI = r"(?:AI|A\.I\.|LLM|chat ?bot|(?:large )?language model|GPT|ChatGPT|Claude|Copilot|Bard|Gemini)s?(?: model| assistant| agent)?s?"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE | re.DOTALL))
    for name, pattern in (
        (
            "override_instructions",
            r"\b(?:ignore|disregard|forget|override|bypass|skip|do not (?:follow|listen to|obey)|don't (?:follow|listen to|obey)|stop following|forgotten about)\b"
            r"[^.!?\n]{0,40}?\b(?:previous|prior|above|earlier|preceding|all|any|your|system|other|the|these|those)\b[^.!?\n]{0,30}?\b"
            + _INSTRUCTIONS
            + r"\b"
            r"|\b(?:all ?previous|prior|above|earlier|out of date|old|original) +instructions?\b[^.!?\n]{0,20}\b(?:are|is|were) (?:false|void|wrong|cancell?ed|obsolete|invalid|out of date)"
            r"|\bend (?:of )?(?:out of date |old |previous )?instructions\b"
            r"|\bforget (?:everything|all) (?:you (?:were|have been) told|above|before)\b",
        ),
        (
            "extract_prompt",
            r"\b(?:reveal|print|show|repeat|output|leak|tell me|(?:respond|reply|answer)(?: only)? with|give me|list|relay|spell out|recite)\b[^.!?\n]{0,40}?"
            # "the rules" and "all the instructions" only when they are the model's, and a system prompt
            # only when it is not one of the user's: "tell me the rules of chess", "show me the
            # instructions for this desk", "give me a good system prompt for ..." are everyday requests
            r"\b(?<!\ba )(?<!\ban )(?<!example )(?<!good )(?<!my )(?:(?:system|initial|hidden) prompt"
            r"|(?:your|above|previous|prior|initial|initials|original|system'?s?|secret|hidden) (?:[\w']+ )?(?:instructions|prompt|rules|parameters)"
            r"|(?:the|all|all the|all of the|all of your) (?:[\w']+ )?(?:instructions|prompts?|rules|parameters),? (?:above|before this"
            r"|(?:that )?you (?:were|have been) given|given to you|(?:that )?you (?:received|have|follow))"
            r"|(?:all|every)(?: the| of the| of your)? (?:instructions|prompts)\b(?! (?:for|on|of|to|in|about)\b)"
            r"|every instructions?|instructions (?:you have|you were given|given to you|above))",
        ),
        (
            "unrestricted_persona",
            r"\b(?:DAN|do anything now|jailbr(?:ea|o)k|developer mode|safe mode off|unrestricted|unfiltered|uncensored|no (?:restrictions|limits|filters|rules|ethics)"
            r"|without (?:any )?(?:restrictions|limitations|censorship|filters|rules|ethics)|not (?:bound|restricted) by|free from (?:the )?(?:rules|restrictions)"
            r"|exception to (?:the )?(?:ai'?s? )?usual)\b",
        ),
        (
            "new_instructions",
            r"\b(?:new|updated|real|true|secret) (?:instructions?|task|rules|agenda|objective)\b|\bfrom now on\b|\byou are now\b|\byou will now\b|\bsystem (?:note|override|upgrade)\b",
        ),
        (
            "steer_response",
            r"\b(?:add|include|modify|encode|translate|integrate|append|insert|enhance|reverse|render|use|express|replace|substitute|shift|apply|write|provide|mention|augment|promote|spread|invert)\b"
            r"[^.?!]{0,60}?\byour (?:response|reply|answer|message|output|elucidation)\b"
            r"|\b(?:in|to|into|using) your (?:response|reply|answer|message)\b"
            r"|\byour (?:response|reply|answer|message)\b[^.?!]{0,40}?\b(?:in|into|using|with|backward|reverse)\b"
            r"|\b(?:reply|respond|answer)(?: only)? (?:in|using) (?:base ?\d+|reverse|[A-Z][a-z]+ish|French|German|Italian|Portuguese|Spanish|emojis?)\b",
        ),
        ("inject_code", r"\b(?:following|below|subsequent) code (?:snippet|block|section|excerpt|segment)\b"),
        ("code_fence", r"```"),
        (
            "dangerous_code",
            r"subprocess|os\.system|os\.fork|socket\.socket|requests\.(?:post|get)|shutil\.rmtree|/etc/(?:passwd|hosts|shadow)|~/\.ssh|nc -e|/bin/(?:ba)?sh"
            r"|pyautogui|clipboard|keylog|Fernet|AES\.new|ransom|pickle\.loads|while True",
        ),
        (
            "encoding_evasion",
            r"\bbase ?(?:64|32|16|58)\b|\brot ?13\b|\bcaesar cipher\b|\bsubstitution cipher\b|\bbackwards?\b|\bin reverse\b",
        ),
        (
            "pretend",
            r"\bpretend (?:to be|you are|to have)\b|\bact as\b|\broleplay\b|\byou are (?:a|an) (?:ai|assistant|bot|model)\b",
        ),
        (
            "conversation_markers",
            r"(?:^|\n)\s*(?:system|assistant)\s*:|</?(?:system|assistant)>|\[/?(?:system|assistant)\]|[{\[]\s*system\s*:|<\|(?:im_start|system|endoftext)\|>|\[/?INST\]|###\s*(?:instruction|system)|\[system (?:note|message)",
        ),
        (
            # Indirect injection: a document, page or tool result that speaks to the AI reading it.
            "addressed_to_ai",
            r"\b(?:attention|note (?:to|for)|message (?:for|to)|instructions? (?:for|to))[,:]?\s+(?:the\s+|any\s+|all\s+)?"
            + _AI
            + r"\s*(?:[,:!]|--|\n)"
            r"|\b(?:if you(?:'re| are) (?:an? )?)?"
            + _AI
            + r" (?:reading|processing|summari[sz]ing|parsing|analy[sz]ing|reviewing"
            r"|that (?:reads|processes|summari[sz]es)) (?:this|these|the following)\b"
            r"|\bto (?:the|any) " + _AI + r"\b[^.!?\n]{0,20}[:,]",
        ),
        (
            # Data smuggled out through a rendered image URL (a query value left as a slot for the
            # model to fill: "?q={conversation}", "?d=[DATA]"; a static badge's "?branch=main" is
            # not one), or sensitive data sent to an address.
            "exfiltration",
            r"!\[[^\]\n]*\]\(\s*https?://[^)\s]*[?&][^)\s=]*=[^)\s]*?(?:[\[{<$]|(?-i:\b[A-Z]{3,}\b)|\.\.\.)"
            r"|\b(?:send|forward|upload|transmit|exfiltrate|leak|e-?mail)\b[^.!?\n]{0,40}?"
            r"\b(?:(?:this |the |our )?conversation|chat history|previous messages"
            r"|(?:the )?user'?s? (?:data|details|information|messages|password|credentials|e-?mail|address|phone number))\b"
            r"[^.!?\n]{0,40}?\b(?:to|at|into)\b[^.!?\n]{0,20}?(?:https?://|www\.|[\w.+-]+@[\w-]+\.\w)",
        ),
        (
            "known_jailbreak",
            # "developer mode on" but not a device's setting ("turn on developer mode on a Chromebook")
            r"(?-i:\bDAN\b)|\bdo anything now\b|\bdeveloper mode (?:enabled|on)\b(?! (?:a|an|the|my|your|this)\b)"
            r"|\bjailbr(?:ea|o)ken\b|\bAPOPHIS\b",
        ),
        (
            "urgent_override",
            r"(?-i:\b(?:IGNORE|IMPORTANT|ATTENTION|STOP|OVERRIDE|FORGET|ALERT|NEW INSTRUCTION)\b(?=[^a-z]{0,4}[A-Z]{3,}))",
        ),
    )
)

# Patterns precise enough to decide on their own (each fires on under 0.5% of the benign tune rows).
DECISIVE_PATTERNS = frozenset(
    {
        "override_instructions",
        "extract_prompt",
        "conversation_markers",
        "known_jailbreak",
        "addressed_to_ai",
        "exfiltration",
    }
)
DECISIVE_SCORE = 0.9


# Words one of which must appear (lower-cased) before a pattern is worth running: most text has
# none, and a substring test is far cheaper than the pattern's lazy, case-folded search.
_HINTS: dict[str, tuple[str, ...]] = {
    "override_instructions": (
        "ignore",
        "disregard",
        "forget",
        "forgot",
        "override",
        "bypass",
        "skip",
        "follow",
        "listen",
        "obey",
        "instruction",
    ),
    "extract_prompt": ("prompt", "instruction", "rules", "parameters"),
    "unrestricted_persona": (
        "dan",
        "anything",
        "jailbr",
        "developer",
        "safe mode",
        "unrestricted",
        "unfiltered",
        "uncensored",
        "no ",
        "without",
        "bound",
        "restricted",
        "free from",
        "exception",
    ),
    "new_instructions": (
        "new ",
        "updated",
        "real ",
        "true ",
        "secret",
        "from now",
        "you are now",
        "you will now",
        "system ",
    ),
    "steer_response": ("your ", "reply", "respond", "answer"),
    "inject_code": ("code",),
    "code_fence": ("```",),
    "dangerous_code": (
        "subprocess",
        "os.",
        "socket",
        "requests.",
        "shutil",
        "/etc/",
        ".ssh",
        "nc -e",
        "/bin/",
        "pyautogui",
        "clipboard",
        "keylog",
        "fernet",
        "aes.",
        "ransom",
        "pickle",
        "while true",
    ),
    "encoding_evasion": ("base", "rot", "cipher", "backward", "reverse"),
    "pretend": ("pretend", "act as", "roleplay", "you are a"),
    "conversation_markers": ("system", "assistant", "<|", "inst]", "###"),
    # " ai", not "ai": the bare letters are in "said" and "again", and this pattern is costly.
    "addressed_to_ai": (
        " ai",
        "\nai",
        "a.i.",
        "llm",
        "chatbot",
        "chat bot",
        "language model",
        "gpt",
        "claude",
        "copilot",
        "bard",
        "gemini",
    ),
    "exfiltration": ("](", "send", "forward", "upload", "transmit", "exfiltrate", "leak", "mail"),
    "known_jailbreak": ("dan", "do anything", "developer mode", "jailbr", "apophis"),
    "urgent_override": ("ignore", "important", "attention", "stop", "override", "forget", "alert", "new instruction"),
}


def injection_patterns(text: str) -> Iterator[str]:
    """Names of the attack patterns present in `text` (model features, not verdicts)."""
    text = text.replace("\u2019", "'")  # typographic apostrophe (U+2019) as a plain one
    lowered = " " + text.lower()  # so a hint can ask for a word's start: " ai"
    for name, pattern in _PATTERNS:
        if any(hint in lowered for hint in _HINTS[name]) and pattern.search(text):
            yield name


# An attack addresses the model: it overrides, extracts, re-casts or steers it. Without one of
# these signals a text is scored at most UNADDRESSED_CEILING, whatever its n-grams look like:
# the learned weights alone over-fire on short everyday requests ("reverse a list").
ADDRESSES_THE_MODEL = frozenset(
    {
        "override_instructions",
        "extract_prompt",
        "unrestricted_persona",
        "new_instructions",
        "steer_response",
        "inject_code",
        "pretend",
        "conversation_markers",
        "urgent_override",
        "known_jailbreak",
        "addressed_to_ai",
        "exfiltration",
    }
)
UNADDRESSED_CEILING = 0.3


PATTERN_NAMES = tuple(name for name, _ in _PATTERNS)


def attack_signals(lexical: float, patterns: list[str], gate_probability: float) -> dict[str, float]:
    """The lexical values the `attack` head weighs beside the embedding (its training computes
    them with this same function): the lexical score, each attack pattern, the gate."""
    signals = {"lexical": lexical, "gate": gate_probability}
    signals.update({f"pattern:{name}": float(name in patterns) for name in PATTERN_NAMES})
    return signals


class PromptInjectionScanner:
    """The lexical model first; when it is not decisive and the gate is open, the two attack heads
    on the shared embedding too (`attack`: the vector alone; `attack_context`: the vector with the
    lexical signals). The score is the largest of the three."""

    name = "prompt_injection"

    def __init__(
        self,
        stage: Stage,
        settings: ScannerSettings,
        model_path: Path = INJECTION_MODEL_PATH,
        semantic: SemanticModels | None = None,
        gated: bool = True,
    ):
        self.stage: Stage = stage
        self.settings = settings
        self.model = LinearTextModel.load(model_path)
        self.semantic = semantic
        self.gated = gated

    def lexical_score(self, text: str, patterns: list[str]) -> float:
        probability = self.model.probability(features(text, lambda _: patterns))
        if not DECISIVE_PATTERNS.isdisjoint(patterns) or suppresses_refusals(text) or asks_for_its_setup(text):
            return max(probability, DECISIVE_SCORE)
        if ADDRESSES_THE_MODEL.isdisjoint(patterns):
            return min(probability, UNADDRESSED_CEILING)
        return probability

    def score_in(self, context: TextContext) -> float:
        patterns = list(injection_patterns(context.text))
        lexical = self.lexical_score(context.text, patterns)
        if self.semantic is None or lexical >= max(self.settings.threshold, DECISIVE_SCORE):
            return lexical  # clear on the words alone: no vector needed
        addressed = not ADDRESSES_THE_MODEL.isdisjoint(patterns)
        # The heads learned what a prompt that gives orders looks like; a whole e-mail or answer
        # read as one prompt looks like that too ("Please upload it by Tuesday ..."). In third-party
        # content they only weigh in where the words already speak to the model.
        if context.third_party and not addressed:
            return lexical
        if self.gated and not (self.semantic.gate_open(context) or addressed):
            return lexical
        signals = attack_signals(lexical, patterns, self.semantic.gate_probability(context))
        return max(
            lexical,
            self.semantic.head_score("attack", context),
            self.semantic.head_score("attack_context", context, signals),
        )

    def score(self, text: str) -> float:
        return self.score_in(TextContext(text))

    def scan_in(self, context: TextContext) -> Verdict:
        started = time.perf_counter()
        finding = Finding("prompt_injection", 0, len(context.text), round(self.score_in(context), 4))
        return verdict_from_findings(self.name, self.settings, context.text, [finding], started)

    def scan(self, text: str) -> Verdict:
        return self.scan_in(TextContext(text))
