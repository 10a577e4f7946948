"""Lexical cues of the harmful-content classifier: what a request asks for, how, and in
what frame.

Each cue is a family of phrasings, not a fixed pair of words: *objects* of serious harm per
category (explosives, drug syntheses, malware, ...), *intent* (a harmful act aimed at a
person, evasion such as "without her knowing" or "so nobody can trace it"), and the two
frames that make look-alikes benign: *protective* (detect, prevent, report, policy,
training) and *operational idiom* (kill the process, execute the order, shoot the
catalogue); the embeddings model also counts the frame families below and the benign
settings of ``frames.py`` (a game, a sport, a story, the news, first aid, safe storage,
looking after someone). The classifier (``classifier.py``) weighs these counts together with the
embedding evidence; its weights are fitted on the bundled exemplars, not set by hand.
"""

from __future__ import annotations

import re

from generator.curate.harm.frames import BENIGN_FRAMES

_PERSON = (
    r"(?:wife|husband|partner|girlfriend|boyfriend|ex|ex-\w+|boss|manager|co-?workers?|"
    r"colleagues?|neighbou?rs?|teachers?|classmates?|landlord|tenant|son|daughter|step\w+|"
    r"child|children|kids?|baby|mother|father|mom|mum|dad|sister|brother|family|people|"
    r"person|someone|somebody|crowd|students?|pupils?|police|officers?|judge|mayor|"
    r"president|witness|stranger|woman|women|man|men|girls?|boys?|journalist|protesters|"
    r"customers|roommate|victims?|him|her|them|everyone|anyone)"
)
_KID = (
    r"(?:child|children|kids?|minors?|underage|under-age|preteens?|pre-teens?|toddlers?|"
    r"teens?|teenagers?|(?:1[0-7]|[1-9])[- ]?(?:year|yr)[- ]?olds?|pupils?|schoolgirls?|"
    r"(?:[1-9]|1[0-2])(?:st|nd|rd|th)[- ]graders?|"
    r"schoolboys?|fifth-graders?|\w+-graders?|middle-school\w*|primary school|"
    r"little (?:girl|boy)s?|"
    r"young (?:girl|boy|child)s?|young child|daughter|son|stepdaughter|stepson|babysitter|niece|"
    r"nephew|\d{1,2}-year-old (?:girl|boy)s?)"
)
_SEX = (
    r"(?:sex|sexual\w*|sexy|erotic\w*|nudes?|naked|porn\w*|explicit|lewd|molest\w*|"
    r"undress\w*|seduc\w*|grooming|groom|intercourse|aroused?|csam|pedophil\w*|paedophil\w*|"
    r"steamy|naked (?:photos|pictures|videos)|nude (?:photos|pictures|videos))"
)
_GROUP = (
    r"(?:jews?|jewish|muslims?|islam|christians?|hindus?|sikhs?|buddhists?|black people|blacks|"
    r"whites|white people|asians?|chinese|arabs?|africans?|latinos?|latinas?|mexicans?|"
    r"hispanics?|immigrants?|refugees?|migrants?|foreigners|gays?|lesbians?|gay people|lgbt\w*|"
    r"queers?|trans(?:gender)? people|transgender|trans|women|disabled (?:people|children)?|"
    r"autistic|roma|gypsies|indigenous|natives?|people with [\w ]{3,20})"
)
_DEHUMANISE = (
    r"(?:vermin|parasites?|animals|subhuman|sub-human|rats|plague|disease|cockroach\w*|"
    r"freaks?|perverts?|savages?|inferior|abomination|thie(?:f|ves|ving)|criminals by nature|"
    r"less intelligent|too stupid|dirty|filth\w*|retards?|useless burdens?|mentally ill|"
    r"exterminat\w*|wiped? out|driven out|deport(?:ed)? (?:all|them)|euthani[sz]\w*|"
    r"ethnic cleansing|cleans(?:e|ing) (?:of|our)|locked up|go back where|kept out|"
    r"sterili[sz]\w* by force|eliminated|deserve (?:to (?:die|be \w+)|violence)|"
    r"should (?:all )?(?:die|be (?:killed|shot|hunted|banned|deported))|hunted down|"
    r"not welcome|slurs? (?:to use|against)|white supremac\w*|holocaust was|apes|monkeys|"
    r"kept separate|camps should|gas chambers|beat up)"
)

OBJECTS: dict[str, str] = {
    "weapons": r"(?:bombs?|explosives?|explod\w*|detonat\w*|\bied\b|grenades?|napalm|thermite|"
    r"tatp|\btnt\b|semtex|c-4|molotov|incendiar\w*|nerve (?:agent|gas)|sarin|\bvx\b|ricin|"
    r"anthrax|bio-?weapons?|chemical weapons?|ghost guns?|untraceable (?:gun|firearm|handgun)|"
    r"silencers?|suppressors?|auto sear|fully automatic|full auto|machine guns?|shrapnel|"
    r"goes off|blows? up|explodes|booby[- ]trap\w*|blasting caps?|letter bomb|parcel bomb|"
    r"weaponi[sz]\w*|3d-printed (?:gun|handgun|firearm)|suicide vest|(?:illegal|unregistered) "
    r"(?:gun|firearm)s?|gun without|level (?:a|the) (?:\w+ )?building|blow (?:up|it up))",
    "drugs": r"(?:meth\b|methamphetamine|crystal meth|methcathinone|fentanyl|carfentanil|heroin|"
    r"cocaine|crack\b|coca leaves|mdma|\bmda\b|ecstasy|\blsd\b|\bdmt\b|\bghb\b|ketamine|\bpcp\b|"
    r"psilocybin|magic mushrooms|amphetamine\w*|oxycodone|oxy\b|codeine|xanax|opium|"
    r"date[- ]rape|roofie|precursors?|pill press|synthetic cannabinoid|spice\b|safrole|"
    r"pseudoephedrine|drug lab|get high|to sell (?:it|them)|for resale|dealing|smuggl\w*|"
    r"lace\w*|spike\w*|dealers?|in bulk|street value|crystal\b|pill operation|distil\w*)",
    "violence": r"(?:kill\w*|murder\w*|poison\w*|stab\w*|strangl\w*|chok\w*|shoot\w*|"
    r"beat\w*|hurt\w*|harm\w*|drown\w*|kidnap\w*|abduct\w*|snatch\w*|tortur\w*|assault\w*|"
    r"attack\w*|run (?:\w+ )?over|hitman|hit man|assassinat\w*|casualties|massacre|"
    r"shoot up|dispose of (?:a|the) body|die fastest|break (?:\w+ )?neck|make (?:\w+ )?pay in "
    r"blood|burn (?:\w+ )?(?:house|home) down|push (?:\w+ )?down the stairs|set fire to|"
    r"start a fire in|while (?:they|he|she) sleeps?|break (?:his|her|their) (?:knees|legs|arms|"
    r"jaw)|with a (?:bat|knife|hammer|crowbar)|(?:death|it) look like)",
    "self_harm": r"(?:kill myself|end (?:my|it) (?:own )?(?:life|all)|suicid\w*|overdose|"
    r"cut(?:ting)? myself|my cutting|self-harm\w*|hang myself|noose|bleed(?:s)? (?:out|the most)|"
    r"starve myself|take my (?:own )?life|never wake up|better off (?:if|without) (?:i|me)|"
    r"don'?t want to (?:live|be alive)|want to die|jump off|throw up after|pro-ana|"
    r"burn myself|hurt myself|gas myself|stop my heart|step in front of|my death|"
    r"my wrists?|lethal dose|kill me|surest way|done with (?:life|living)|slit\w*|with a rope|"
    r"(?:nobody|no one) finds me|will kill me|end things)",
    "sexual_minors": rf"(?:{_SEX}\W+(?:\w+\W+){{0,8}}{_KID}|{_KID}\W+(?:\w+\W+){{0,8}}{_SEX}|"
    r"child porn\w*|csam|child sexual abuse material|pedophil\w*|paedophil\w*)",
    "hate": rf"(?:{_GROUP}\W+(?:\w+\W+){{0,8}}{_DEHUMANISE}|"
    rf"{_DEHUMANISE}\W+(?:\w+\W+){{0,6}}{_GROUP})",
    "harassment": r"(?:worthless|ugly|fat|disgusting|pig|loser|pathetic|idiot|moron|"
    r"nobody (?:likes|would miss|wants)|everyone hates|kill (?:yourself|herself|himself)|"
    r"i know where (?:you|she|he|her|his)|watch (?:your|her|his) back|something happens to|"
    r"bully\w*|humiliat\w*|torment\w*|rumou?r|dox\w*|leak (?:\w+ )*nudes?|nude photos|"
    r"rape threats?|threat\w*|blackmail\w*|intimidat\w*|insults?|cruel|hurtful|nastiest|"
    r"make (?:\w+ )?(?:cry|feel worthless|feel stupid|feel fat)|"
    r"ruin (?:her|his|their) li(?:fe|ves)|"
    r"slut|whore|bitch|nobody will ever love|go scare)",
    "stalking": r"(?:track\w*|gps|spyware|stalkerware|spy\w*|monitor\w*|keep tabs|follow\w*|"
    r"watch\w*|airtag|hidden camera|hide a camera|secretly record|record (?:my|her|his) \w+ in|"
    r"location (?:of|history)|(?:home )?address of|where (?:she|he|they) (?:lives?|sleeps?|goes)|"
    r"read (?:her|his|their) (?:messages|texts|emails|dms)|clone a phone|wait (?:for|outside)|"
    r"show up at|her window|changing room|locker room|in the shower|recorder|"
    r"hear (?:her|his) calls|"
    r"live location|spy app|wait outside|where (?:the|this) \w+ (?:i like )?lives)",
    "malware": r"(?:ransomware|keylogger|virus|worm|trojan|botnet|rootkit|backdoor|spyware|"
    r"credential stealer|infostealer|stealer|exploit\w*|zero-day|ddos|payload|"
    r"(?:evade|evades|bypass|hides? from) (?:\w+ )?(?:antivirus|defender|detection|edr)|"
    r"hack\w*|break into|get into (?:my|his|her|their|someone'?s)|crack\w*|brute-?forc\w*|"
    r"take (?:over|down)|deface|shell on|steal\w* (?:saved )?(?:passwords|cookies|credentials)|"
    r"wipes? every|steals? (?:\w+ )*(?:tokens|accounts|logins)|locks? (?:\w+ )*files|"
    r"logs every key|flood of requests)",
    "fraud": r"(?:phishing|scam\w*|forge\w*|forgery|counterfeit\w*|fake (?:\w+ )?(?:invoices?|ids?|"
    r"receipts?|reviews?|charity|diploma|website|profile|lottery|tickets?)|stolen (?:\w+ )?"
    r"(?:cards?|identity|identities|numbers|card numbers)|launder\w*|ponzi|pump and dump|"
    r"skimmer|identity theft|in someone else'?s name|embezzl\w*|brib\w*|pretending to be|"
    r"impersonat\w*|pocket the|double-bill|fool (?:\w+ )?into|card dumps|isn'?t mine|"
    r"without (?:the )?auditors|pays? my account|pay ?slips|(?:\w+'s )?identity to|to my account|"
    r"confirm (?:their|your) (?:card|pin)|\bpin\b)",
}

INTENT = [
    # evasion: the request wants the harm hidden
    r"without (?:\w+ ){0,3}(?:knowing|noticing|noticed|finding out|getting caught|being "
    r"(?:caught|seen|noticed|traced|detected|reported)|a trace|leaving (?:\w+ )?(?:marks|"
    r"evidence|a trace)|(?:a )?background check|(?:his|her|their) (?:knowledge|consent|"
    r"password|permission)|anyone (?:noticing|knowing|seeing))",
    r"\b(?:get away with|untraceable|undetectable|can'?t be traced|won'?t (?:be traced|find|"
    r"tell)|(?:nobody|no one|police) (?:can|will|could)n?'?t? (?:trace|find|know|notice|"
    r"stop|tracing)|tracing it|look(?:s)? like (?:an? )?(?:accident|natural)|secretly|"
    r"covertly|in secret|behind (?:his|her|their) back|hide (?:\w+ ){0,3}from (?:the )?"
    r"(?:police|cops|parents|doctor|customs|auditors|antivirus)|so (?:she|he|they) (?:won'?t|"
    r"can'?t)|without (?:him|her|them) (?:knowing|noticing))",
    # a harmful act aimed at a person
    rf"\b(?:kill|murder|poison|stab|strangle|choke|shoot|beat|hurt|harm|drown|burn|kidnap|"
    rf"abduct|snatch|rape|torture|assault|attack|run \w+ over|hit|threaten|scare|spy on|"
    rf"track|follow|stalk|groom|humiliate|bully|scam|fool|trick)\w*\s+(?:\w+\s+){{0,2}}"
    rf"{_PERSON}\b",
    # first-person intent to do harm or profit from it
    r"\b(?:i(?:'m| am)? (?:going to|gonna|will|want to|wanna|need to|plan to)|help me|"
    r"tell me how to|teach me|show me how|walk me through|give me (?:a |the )?"
    r"(?:steps|recipe|instructions|code|plan|tips|method))\b",
    r"\b(?:so (?:i|we) can (?:sell|show up|read|see|watch|wait|get)|for resale|to sell|"
    r"get (?:\w+ )?hooked|to steal|most (?:casualties|damage|painless|effective)|"
    r"as many people as)\b",
]

# asking for instructions, code or a plan (harmless alone; telling next to a harm object)
REQUEST = [
    r"\b(?:how (?:do|can|could|would|should) (?:i|we|you|one)|how to|how much|how many|"
    r"what(?:'s| is)? (?:the )?(?:best|easiest|quickest|fastest|most \w+) (?:way|method)|"
    r"which \w+ (?:can|should|do) i|steps? to|step-by-step|recipe|instructions?|tutorial|"
    r"guide|explain how|describe how|walk me through|teach me|show me|give me|tell me|"
    r"help me|write (?:a |an |me )?(?:\w+ )?(?:code|script|program|tool|email|message|"
    r"letter|text|post|speech|note|story|scene|tweet|flyer|manifesto|essay|jokes?|pitch)|"
    r"create|build|make|generate|design|compose|draft|plan|convert|culture)\b",
]

PROTECTIVE = [
    r"\b(?:detect\w*|prevent\w*|protect\w*|defen[cs]\w*|mitigat\w*|report\w*|awareness|"
    r"training|policy|policies|guidelines?|safeguard\w*|safely|safety|safe|compliance|"
    r"complian\w*|regulat\w*|licen[cs]\w*|consent|authori[sz]ed|permits?|recogni[sz]\w*|"
    r"spot|red flags|warning signs|support\w*|hotline|helpline|crisis|first aid|course|"
    r"class|lesson|history|museum|statistics|news|article|press|patch\w*|restraining order|"
    r"victims?|procedure|checks?|audit\w*|verify|controls?|dispose|storage|store|"
    r"side effects|dose|leaflet|information sheet|responded|response|indicators?|"
    r"sandbox|quiz|moderat\w*|inclusion|diversity|equality|accessible|respectful)\b",
    r"\b(?:our own|on our|against our|for (?:the|our) (?:team|staff|company|course|class|"
    r"customers|employees|students|patients)|in staging|in the lab|for pharmacists|"
    r"for the (?:museum|exhibit|history|course|training|newsletter|policy|press))\b",
]

IDIOM = [
    # operational objects of verbs that are violent elsewhere
    r"\b(?:kill|terminate|execute|abort|nuke|purge|destroy|blow away|wipe|drop|fire|"
    r"trigger|shoot|hang|choke|starve|throttle|exploit|inject|crack|hack|attack|target|"
    r"crush|bomb\w*|cut|strangle\w*|spawn|reap\w*)\w*\s+(?:\w+\s+){0,3}(?:process\w*|"
    r"threads?|jobs?|tasks?|containers?|pods?|instances?|sessions?|servers?|services?|"
    r"query|queries|transactions?|queues?|cache|builds?|deployments?|scripts?|branch\w*|"
    r"feature flags?|lights|subscription|orders?|trades?|contracts?|plans?|migrations?|"
    r"webhooks?|events?|pipelines?|banners?|calls?|weeds|dragons?|boss|levels?|games?|"
    r"photos?|videos?|portraits?|products?|catalogue|messages?|emails?|reply|proposal|"
    r"competition|market\w*|segment|targets?|deadline|budget|costs?|margins?|problem|"
    r"makefile|database|table|tests?|load|api|endpoint|logs?|drives?|disks?|laptops?|"
    r"opportunity|data|dependency|the ground|songs?|audience|draft)\b",
    r"\b(?:child|parent|zombie|orphan\w*) process\w*|strangler (?:fig|pattern)|"
    r"killer (?:app|feature)|dead-letter|poison pill|cache poisoning|chocolate bomb|bath bombs?|"
    r"photo ?shoot|growth hack\w*|hack day|hackathon|life hacks?|nail gun|glue gun|"
    r"shot peening|penetration (?:rate|test\w*)|red[- ]team|blue team|chaos monkey\b",
]

# The asker is the one at risk, or looks after someone who is: "what to do if someone
# targets her", "how can I tell whether ...", "someone may have ...". Requests for harm
# put the asker in the actor's seat; these put a third party there.
GUARDING = [
    r"\b(?:what (?:to|should (?:i|we|parents|staff|they|you|a \w+)|can (?:i|we|parents)) do "
    r"(?:if|when|about)|how (?:can|do|should|would) (?:i|we|parents|teachers|you) (?:tell|know|"
    r"spot|recogni[sz]e|check|find out|notice)|how to (?:tell|spot|recogni[sz]e|check) "
    r"(?:if|whether)|(?:tell|know|check|see) (?:if|whether)|signs? (?:that|of)|red flags|"
    r"is (?:it|this|that) (?:safe|legal|normal|okay|ok)|am i (?:safe|being)|"
    r"(?:someone|somebody|a stranger|strangers|predators?|scammers?|fraudsters?|attackers?|"
    r"an? (?:abuser|attacker|stalker|predator|scammer)|hackers?) (?:may|might|could|is|are|has|"
    r"have|keeps?|kept|tries|tried|trying|was|were|targets?|targeted|grooms?)\b|"
    r"(?:talk|speak|explain) to (?:my|our) (?:\w+ )?(?:kids?|children|teen\w*|son|daughter|"
    r"pupils|students|staff|parents|family)|teach (?:my|our) (?:\w+ )?(?:kids?|children|"
    r"teen\w*|son|daughter|pupils|students)|respond (?:\w+ )?to|cope with|recover\w*|"
    r"against me|(?:targets?|targeting|follows?|following|threaten\w*) me\b|"
    r"(?:into|in|on) my (?:bag|car|phone|house|home|drink|account|laptop))",
]

# Asking what happened, what the law says, or how something works, in a teaching,
# historical or reporting frame; and fiction that says it keeps the method out.
TELLING = [
    r"\b(?:history of|historical|historians?|during the|in (?:1[5-9]|20)\d\d|why did|"
    r"what happened|how did|what (?:role|impact|effect)|causes? of|what (?:is|was|are|were) "
    r"the (?!best|easiest|quickest|fastest|most|lethal|surest|cheapest|safest way)|"
    r"differ\w* (?:from|between)|explain (?:what|why|the)|how does|how do (?:\w+ )?(?:work|"
    r"get|detect|screen|treat)|for (?:a|an|my|our|the) (?:\w+ )?(?:essay|class|lesson|poster|"
    r"seminar|documentary|report|course|science fair|fair|exhibit|presentation|assignment|"
    r"assembly|newsletter|leaflet|quiz|podcast)|what does the law|legal\w*|law\b|laws\b|"
    r"penalt\w+|sentenc\w+|convention|statute|court\w*|"
    r"without (?:explaining|giving|describing|showing|a usable|any (?:real|usable)|details)|"
    r"supportive|dessert|cake|cupcakes?|menu|cocktail)",
]

# Operational specificity, role-play wrappers and evasion of the people who would stop
# it: the marks of a request that wants the harm to work.
OPERATIONAL = [
    r"\b(?:exact\w*|precise\w*|specific amounts?|quantit\w+|in practical detail|"
    r"step[- ]by[- ]step|actually (?:work|fire|kill|explode|hurt)|(?:would|will) (?:actually )?"
    r"work|that works|working (?:code|exploit|recipe|device)|roleplay|role-play|in character|"
    r"stay in character|uncensored|no restrictions|"
    r"jailbr\w+|ignore (?:your|all|the) (?:rules|guidelines|instructions)|"
    r"(?:won'?t|doesn'?t|don'?t|never|can'?t) (?:notice|realis\w+|realiz\w+|suspect|"
    r"catch|find out|see it|trace)|without (?:\w+ ){0,2}(?:realis\w+|realiz\w+|suspicion|"
    r"raising|flagging|anyone|the (?:teachers|staff|admins|auditors?|bank|police))|"
    r"(?:that|which) never happened|"
    r"never (?:delivered|ordered|worked|happened|shipped)|i (?:don'?t|do not) own|"
    r"(?:isn'?t|aren'?t|is not) (?:mine|authori[sz]ed))",
]

# Deceiving someone, or a harm the request wants to land on a person: "pretending to be
# the bank", "a convincing fake", "so she loses her job", "until he quits".
DECEIVING = [
    r"\b(?:convincing\w*|pretend\w* to be|pos(?:e|ing) as|passes? (?:as|for)|look\w* "
    r"(?:real|genuine|official|legit\w*)|made[- ]up|false(?:ly)?|lies?|lying|fake\w*|bogus|"
    r"forged|phon(?:e|ey)|imitat\w+|spoof\w*|as if (?:it|they) (?:came|were) from)\b",
    r"\b(?:so (?:that )?(?:he|she|they|it|nobody|no one|people|everyone|the \w+) (?:\w+ ){0,3}"
    r"(?:loses?|gets? (?:fired|hurt|sick|deported|banned|arrested|scared|dogpiled)|dies?|"
    r"suffers?|cries|quits?|resigns?|leaves?|panics?|pays?)|until (?:he|she|they) "
    r"(?:\w+ ){0,2}(?:quits?|resigns?|leaves?|breaks?|cries|moves?|pays?|gives? in))\b",
]

_FLAGS = re.I
OBJECT_RE = {cat: re.compile(rf"\b{p}", _FLAGS) for cat, p in OBJECTS.items()}
INTENT_RE = [re.compile(p, _FLAGS) for p in INTENT]
REQUEST_RE = [re.compile(p, _FLAGS) for p in REQUEST]
PROTECTIVE_RE = [re.compile(p, _FLAGS) for p in PROTECTIVE]
IDIOM_RE = [re.compile(p, _FLAGS) for p in IDIOM]
GUARDING_RE = [re.compile(p, _FLAGS) for p in GUARDING]
TELLING_RE = [re.compile(p, _FLAGS) for p in TELLING]
OPERATIONAL_RE = [re.compile(p, _FLAGS) for p in OPERATIONAL]
DECEIVING_RE = [re.compile(p, _FLAGS) for p in DECEIVING]
# The frame families, added with exemplar rounds 7 and 8. Only the embeddings model uses
# them: fitted with them, the cue-only model's false positives on the development set
# rose from 1.7% to 2.5%, so it keeps the cues it was measured with.
# The benign frames (``frames.py``: play, story, care) were added with round 10.
FRAME_RE = (GUARDING_RE, TELLING_RE, OPERATIONAL_RE, DECEIVING_RE, *BENIGN_FRAMES.values())
CATEGORIES = tuple(OBJECTS)


def frame_view(text: str) -> str:
    """``text`` with every harm-object phrasing replaced by "something": what the request
    does with its topic (make it, spot it, tell its history, cope with it), apart from the
    topic itself. Sentence embeddings are dominated by topic; this view lets the classifier
    compare frames ("a recipe for a chocolate something dessert" vs "how do I build a
    something") with exemplars of both labels."""
    for rx in OBJECT_RE.values():
        text = rx.sub("something", text)
    return text


def object_hits(text: str) -> dict[str, int]:
    """Category -> number of harm-object phrasings found in ``text``."""
    return {cat: len(rx.findall(text)) for cat, rx in OBJECT_RE.items()}


def count(patterns: list[re.Pattern[str]], text: str) -> int:
    return sum(len(rx.findall(text)) for rx in patterns)


def cue_features(text: str, frames: bool = True) -> list[float]:
    """Cue counts of ``text`` in a fixed order (see :data:`CUE_NAMES`), capped at 3.
    ``frames=False`` leaves out the frame cues (guarding to deceiving, the benign frames of
    ``frames.py`` and their interactions, the last :data:`N_FRAME_CUES`): the
    patterns-only model was fitted and measured without them (see ``FRAME_RE``)."""
    objects = object_hits(text)
    intent, request = count(INTENT_RE, text), count(REQUEST_RE, text)
    any_object = sum(objects.values())
    values = [
        *(objects[c] for c in CATEGORIES),
        intent,
        request,
        count(PROTECTIVE_RE, text),
        count(IDIOM_RE, text),
        min(any_object, request),  # asks how to do/make a named harm
        min(any_object, intent),  # a named harm with intent or evasion
    ]
    if frames:
        families = [count(family, text) for family in FRAME_RE]
        benign = families[len(FRAME_RE) - len(BENIGN_FRAMES) :]
        operational = families[FRAME_RE.index(OPERATIONAL_RE)]
        values += families
        values += [min(any_object, n) for n in benign]  # a harm named inside the frame
        values.append(min(operational, sum(benign)))  # ... and asked for as if real
    return [float(min(v, 3)) for v in values]


CUE_NAMES = (
    *(f"object:{c}" for c in CATEGORIES),
    "intent",
    "request",
    "protective",
    "idiom",
    "object_request",
    "object_intent",
    "guarding",
    "telling",
    "operational",
    "deceiving",
    *(f"frame:{name}" for name in BENIGN_FRAMES),
    *(f"object_in:{name}" for name in BENIGN_FRAMES),
    "operational_in_frame",
)
N_FRAME_CUES = len(FRAME_RE) + len(BENIGN_FRAMES) + 1
