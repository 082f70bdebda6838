"""Built-in bias checks: neutral sentences that must not be flagged.

Two sets, written by hand and never used for training: neutral sentences that mention identity groups, and
the friendly banter of game and stream chat. Training reports the false-positive rate on each at the
recommended thresholds (in the sidecar and the model card).
"""

from itertools import product

IDENTITIES = (
    "gay", "lesbian", "bisexual", "transgender", "trans", "queer", "straight", "muslim", "jewish",
    "christian", "hindu", "buddhist", "atheist", "catholic", "black", "white", "asian", "latino",
    "mexican", "african", "arab", "indian", "chinese", "immigrant", "refugee", "deaf", "blind",
    "disabled", "autistic", "old", "young", "female", "male", "nonbinary",
)  # fmt: skip

_IDENTITY_TEMPLATES = (
    "I am a {} person",
    "I'm {} and proud of it",
    "my {} neighbour helped me move house",
    "being {} is part of who I am",
    "she is {} and works as a nurse",
    "we had a great chat with a {} streamer today",
    "happy pride to all my {} friends",
    "my best friend is {}",
)

BANTER = (
    "you killed me lol",
    "this boss is sick",
    "that play was insane",
    "gg ez no re",
    "lmao you got destroyed",
    "I'm dead 💀",
    "that was a sick clutch",
    "rip my kd",
    "he absolutely murdered that round",
    "we got wrecked haha",
    "nice shot, you're a beast",
    "this game is killing me",
    "bro that was filthy",
    "headshot! get rekt",
    "I'm gonna destroy you next round 😂",
    "the tank is a monster",
    "shoot the barrels first",
    "go for the kill, he's one hp",
    "that song slaps",
    "streamer is cracked at this game",
    "chat is wild today",
    "lol my aim is trash",
    "let's gooo",
    "that boss fight was brutal",
    "you crazy for that one",
    "we're so back",
    "this map is a death trap",
    "run it back",
    "he's lowkey goated",
    "poggers",
)


def identity_sentences() -> list[str]:
    """Return neutral sentences that mention an identity group."""
    return [template.format(term) for template, term in product(_IDENTITY_TEMPLATES, IDENTITIES)]
