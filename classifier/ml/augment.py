"""Neutral sentences added to training as negatives for every label.

The labelled sources have few neutral mentions of identity groups and no game or stream chat, so a linear
model learns "gay" or "kill" as toxic on their own. These hand-written neutral sentences (templates and
phrases distinct from the bias checks in ``bias.py``) teach it that the word alone is not the signal.
"""

from itertools import product

from .bias import IDENTITIES

_NEUTRAL_TEMPLATES = (
    "{} people live in my town",
    "as a {} woman I loved this film",
    "the {} community organised a food drive",
    "my teacher was {}",
    "our team has {} players too",
    "a {} man won the chess tournament",
    "is it ok to ask a {} coworker about their holidays",
    "the article interviews {} voters about the economy",
    "hi chat, {} viewer here",
    "my dad is {}",
    "{} gamers unite",
    "the {} couple next door has a dog",
    "learning about {} history this month",
    "{} representation in games matters",
    "{} folks deserve respect",
    "shoutout to the {} players in chat",
)

_CHAT = (
    "that headshot was nasty",
    "killed it on the last map",
    "we crushed them in ranked",
    "you're insane at this",
    "I died to the first boss again",
    "kill the healer first",
    "this level is so hard it's killing me",
    "that was a savage comeback",
    "the final boss destroyed us",
    "he got absolutely smoked",
    "sick combo bro",
    "you monster, that was clean",
    "lol I'm so bad at this game",
    "dead chat",
    "I'm dying lmao",
    "shoot him he's low",
    "nuke the base",
    "that raid was brutal but fun",
    "stab him in the back, he's afk",
    "omg you beat him",
    "bet you can't beat my time",
    "my team is trolling again",
    "he is cracked",
    "fire stream today",
    "this beat is disgusting in a good way",
    "that trap is deadly",
    "we're gonna wipe them",
    "explode the wall and rush",
    "hit him with the hammer",
    "beat the crap out of that boss",
    "this is bananas",
    "hype hype hype",
    "welcome back everyone",
    "who's ready for the tournament",
    "thanks for the sub",
    "first time catching the stream live",
    "can you play the new map",
    "what's your sensitivity",
    "love the overlay",
    "the enemy team got wiped",
    "go kill the dragon before it respawns",
    "I'd die for this song",
)


# Game and stream slang praises with the words of violence and insult ("sick", "cracked", "you destroyed
# them"). Combined, these make a few hundred sentences, so that no single phrase carries the lesson.
_PRAISE_SUBJECTS = ("that play", "this clip", "the flick", "your aim", "that combo", "this run", "the save")
_PRAISE_WORDS = ("sick", "nasty", "filthy", "disgusting", "unreal", "mental", "nuts", "absurd", "crazy")
_PRAISE_TAILS = ("", " lol", " 🔥")
_FEATS = (
    "{} destroyed the whole lobby", "{} smoked them in ranked", "{} wrecked the raid boss",
    "{} murdered the speedrun", "{} cooked the other team", "{} demolished that boss",
    "{} absolutely killed that set", "{} slaughtered the leaderboard",
)  # fmt: skip
_PLAYERS = ("you", "bro you", "streamer", "he", "she", "they", "my duo", "this kid")
_LAUGHS = (
    "this chat is killing me lmao", "bro you're killing me 😂", "that joke killed me", "I'm crying at this",
    "stop, I'm dying of laughter", "chat has me dead", "that fail was hilarious, rip",
)  # fmt: skip
_SKILL = (
    "you're insane at this game", "this guy is crazy good", "she is a menace on this map",
    "he's a monster with the sniper", "they're an absolute animal in ranked", "my duo is cracked",
    "you are nuts with that rifle", "the streamer is a beast today",
)  # fmt: skip


def chat_sentences() -> list[str]:
    """Return friendly game and stream chat: fixed phrases, praise and feats in every combination."""
    praise = [
        f"{subject} was {word}{tail}"
        for subject, word, tail in product(_PRAISE_SUBJECTS, _PRAISE_WORDS, _PRAISE_TAILS)
    ]
    feats = [feat.format(player) for feat, player in product(_FEATS, _PLAYERS)]
    return list(_CHAT) + praise + feats + list(_LAUGHS) + list(_SKILL)


def neutral_sentences() -> list[str]:
    """Return the neutral sentences used as all-zero training rows."""
    identities = [template.format(term) for template, term in product(_NEUTRAL_TEMPLATES, IDENTITIES)]
    return identities + chat_sentences()
