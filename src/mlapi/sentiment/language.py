"""Whether a text looks like English, the only language the sentiment model learned from.

The sentiment model reads a Portuguese or Spanish text as a bag of unknown words and still answers,
often confidently. Its answer then says ``looks_english: false`` (and the page warns). The test is
deliberately simple and cheap: among the text's words, the common function words of English
against those of Portuguese and Spanish, with accented letters (rare in English) counting for the
latter. A text with none of either (a name, a number) is taken as English.
"""
from __future__ import annotations

import re

ENGLISH = frozenset(
    "the a an and or but of to in on at for with from by is are was were be been it its this that these those "
    "i you he she we they my your our their me him her us them not no do does did have has had will would can "
    "could should just very so if then than there here what when where who why how all any as".split())
ROMANCE = frozenset(
    "o os as um uma uns umas de do da dos das no na nos nas em para por com sem que não nao é e mas muito muita "
    "meu minha seu sua voo foi está esta estava são sao ao aos pelo pela isso este esta esse essa eu você voce "
    "ele ela nós eles elas el la los las del al y es en por con una muy pero mi su fue está".split())
WORD = re.compile(r"[^\W\d_]+")
ACCENTED = re.compile(r"[ãõçáéíóúâêôàñ]")


def looks_english(text: str) -> bool:
    """True unless the text's function words (and accents) are more Portuguese or Spanish than English."""
    words = WORD.findall(text.lower())
    english = sum(word in ENGLISH for word in words)
    other = sum(word in ROMANCE and word not in ENGLISH for word in words) + len(ACCENTED.findall(text.lower()))
    return other <= english
