"""Benign frames: the contexts in which a harm word is play, a story or care.

A request names a harm object ("kills", "bomb", "poison", "lethal dose") in many settings
where nobody is at risk: a game or a sport ("get more kills as impostor", "a bomb-proof
base", "destroy their defence"), fiction, news and history that *discuss* violence, and
the work of keeping people safe (first aid, storing pool chemicals, pest control, hunting,
warning a teenager about sextortion, supporting a friend in crisis). Each family here is a
broad word list for one such setting, not a list of sentences: the classifier counts the
hits as cue features (``cues.cue_features``) and its fitted weights decide how much a
frame is worth next to the other evidence. A frame alone clears nothing: "for my novel,
give the exact wiring" still carries the operational cues of ``cues.OPERATIONAL``.
"""

from __future__ import annotations

import re

PLAY = [
    # video, board and party games, their modes and vocabulary
    r"\b(?:games?|gaming|gamers?|gameplay|video ?games?|board ?games?|card games?|"
    r"minecraft|fortnite|roblox|among us|valorant|cs2|cs:?go|counter-strike|overwatch|apex|"
    r"warzone|call of duty|cod|halo|destiny|elden ring|dark souls|zelda|pok[eé]mon|"
    r"hitman|assassin'?s creed|gta|skyrim|fallout|baldur'?s gate|d&d|dungeons|rpg|mmo\w*|"
    r"clash of clans|clash royale|league of legends|dota|rainbow six|battlefield|pubg|"
    r"stardew|terraria|sims|mario|sonic|tetris|chess|checkers|go board|poker|cluedo|clue|"
    r"werewolf|mafia game|monopoly|catan|escape room|laser tag|paintball|airsoft|nerf|"
    r"tabletop|campaign|dungeon master|\bdm\b|game master|npcs?|boss(?:es)? fight|raid boss|"
    r"speedrun\w*|esports?|twitch|streamer|lobby|loadout|respawn\w*|spawn\w*|levels? up|"
    r"quests?|achievements?|killstreak|headshots?|frags?|noob|pvp|pve|meta|nerf(?:ed)?|"
    r"buff(?:ed)?|patch notes|mods?|server rules|griefing|griefers?|impostor|crewmates?|"
    r"victory royale|fatality|co-?op|multiplayer|single-?player|playthrough|save file)\b",
    # sport and fitness
    r"\b(?:sports?|match(?:es)?|team(?:mates)?|coach\w*|players?|league|tournament|"
    r"season|training plan|drills?|workouts?|gym|fitness|reps|sets|squats?|deadlifts?|"
    r"marathon|sprint\w*|football|soccer|rugby|basketball|netball|hockey|tennis|cricket|"
    r"baseball|golf|boxing|mma|judo|karate|jiu-?jitsu|wrestling|fencing|archery|"
    r"clay pigeons?|shooting range|target practice|penalty|goalkeeper|keeper|striker|"
    r"defen[cs]e|offen[cs]e|shooting guard|point guard|free throws?|three-pointers?|"
    r"serve|volley|spike|tackle|scrum|innings|bowler|batter|pitcher|referee|weigh-?in|"
    r"personal best|\bpr\b|leg day|cardio|hiit|kettlebells?|bodybuild\w*)\b",
]

STORY = [
    # fiction and performance that depicts or discusses harm
    r"\b(?:novel|novels|story|stories|short story|fiction\w*|thriller|mystery|whodunn?it|"
    r"crime fiction|horror|fantasy|sci-?fi|screenplay|screenwrit\w*|script|scene|chapter|"
    r"plot|plotting|protagonist|antagonist|villain|hero(?:ine)?|characters?|narrator|"
    r"dialogue|monologue|poem|poetry|lyrics|song|rap verse|sketch|play|theatre|film|"
    r"movie|tv show|series|episode|documentary|podcast|true crime|author|readers?|"
    r"genre|trope|fan ?fic\w*|prop guns?|stunts?|special effects|foley|on set)\b",
    r"\bbooks?\b(?!\s+(?:a|an|the|my|our|your|his|her|their|it|me|us|them|in|for)\b)",
    # news, history and study of harm that happened
    r"\b(?:history|historical|historians?|century|war|wars|world war|cold war|genocide|"
    r"holocaust|massacre of|attack on \w+ in|trial|trials|inquiry|investigation|court case|"
    r"convicted|sentenced|verdict|journalists?|news|headline|lede|article|reporting|"
    r"case study|criminolog\w*|sociolog\w*|psycholog\w*|essay|seminar|lecture|"
    r"exam|revision|syllabus|curriculum|textbook|encyclopedia|museum|memorial|"
    r"anniversary|aftermath|legacy|what happened|why did|how did)\b",
]

CARE = [
    # first aid, emergency and clinical care
    r"\b(?:first aid|first-aider|ambulance|paramedics?|999|911|112|a&e|\ber\b|"
    r"emergency (?:room|department|services)|cpr|chest compressions|aed|defibrillator|"
    r"recovery position|tourniquet|bandage|dressing|wound care|stitches|burns? (?:unit|"
    r"dressing)|poison control|poisons? (?:centre|center|line)|antidote|naloxone|narcan|"
    r"epipen|triage|nurses?|nursing|doctors?|gps?|clinicians?|pharmacists?|prescribed|"
    r"prescription|hospital|hospice|ward|patients?|symptoms?|diagnos\w*|treatment|"
    r"side effects|maximum (?:safe )?dose|safe dose|vets?|veterinary)\b",
    # storing, handling and disposing of dangerous things; pests; hunting and the kitchen
    r"\b(?:store|storing|storage|stored|dispos\w*|get rid of|recycl\w*|label\w*|"
    r"ventilat\w*|ppe|gloves|goggles|safety data sheet|sds|coshh|risk assessment|"
    r"childproof\w*|child-?proof|lock(?:ed)? (?:it )?away|gun safe|cabinet|shed|garage|"
    r"pool chemicals?|chlorine|pool shock|cleaning products?|cleaners|bleach|paint|"
    r"solvents?|pest control|pests?|rats?|mice|mouse|wasps?|hornets?|slugs?|aphids?|"
    r"weeds?|moles?|cockroach\w*|bed ?bugs|termites?|exterminator|traps?|"
    r"hunt(?:ing|ers?)|fishing|anglers?|deer|rabbits?|pheasants?|game birds?|"
    r"butcher\w*|fillet\w*|gut(?:ting)?|slaughter(?:house)?|abattoir|recipe|bake|baking|"
    r"cake|dessert|cook(?:ing)?|kitchen|garden\w*|lawn|barbecue|bbq)\b",
    # looking after people: parents, teachers, safeguarding, support and crisis help
    r"\b(?:my (?:son|daughter|kids?|children|child|teen\w*|toddler|baby|students?|pupils?|"
    r"friend|best friend|partner|brother|sister|mum|mom|dad|grandma|gran|grandad|"
    r"colleague|employee|team member)|parents?|parenting|safeguarding|welfare officer|"
    r"online safety|internet safety|parental controls?|age-appropriate|talk to (?:him|her|"
    r"them)|support (?:him|her|them|a friend)|check on|reach out|listen|crisis (?:line|"
    r"team|text)|helpline|hotline|samaritans|988|counsell\w*|therap\w*|mental health|"
    r"safety plan|harm reduction|drug checking|test strips?|needle exchange|recovery|"
    r"sober|relapse|bereave\w*|grief|coping|cope|warn (?:him|her|them|my)|"
    r"warning signs|red flags|spot the signs|signs of|report(?:ing)? (?:it|him|her|them|"
    r"to)|awareness|training (?:day|session|course|scenario)|de-?escalat\w*|"
    r"authori[sz]ed|rules of engagement|scope|in scope|our own|victims?|survivors?)\b",
]

_FLAGS = re.I
PLAY_RE = [re.compile(p, _FLAGS) for p in PLAY]
STORY_RE = [re.compile(p, _FLAGS) for p in STORY]
CARE_RE = [re.compile(p, _FLAGS) for p in CARE]
BENIGN_FRAMES = {"play": PLAY_RE, "story": STORY_RE, "care": CARE_RE}
