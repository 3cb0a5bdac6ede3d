"""Chinese personal names and their realistic variants (pinyin, homophones, traditional characters).

Surnames follow national frequencies (王 李 张 刘 陈 杨 …, ``data/surnames.csv``); given names are
one or two characters drawn by sex and birth cohort (``data/given_chars.csv``), so that older
people get 建国/秀英-style names and children 子轩/梓涵-style names.
"""

from __future__ import annotations

import random
from itertools import accumulate

from rhip.synth import reference


def _era(birth_year: int) -> int:
    return 0 if birth_year < 1965 else 1 if birth_year < 1995 else 2


class NameMaker:
    """Draws names and renders the variants used as identity noise."""

    def __init__(self) -> None:
        sn = reference.surnames()
        self._surnames = [s.text for s in sn]
        self._surname_cum = list(accumulate(s.weight for s in sn))
        chars = reference.given_chars()
        self._pool: dict[tuple[str, int], tuple[list[str], list[float]]] = {}
        for sex in ("male", "female"):
            allowed = ("M", "U") if sex == "male" else ("F", "U")
            for era in range(3):
                pool = [c for c in chars if c.sex in allowed and c.weights[era] > 0]
                self._pool[(sex, era)] = (
                    [c.text for c in pool],
                    list(accumulate(float(c.weights[era]) for c in pool)),
                )
        self._pinyin = {s.text: s.pinyin for s in sn}
        self._pinyin.update({c.text: c.pinyin for c in chars})
        self._trad = {s.text: s.traditional for s in sn if s.traditional != s.text}
        for c in chars:
            if c.traditional != c.text:
                self._trad[c.text] = c.traditional
        self._homophones = {c.text: c.homophones for c in chars if c.homophones}
        prefixes, weights = reference.mobile_prefixes()
        self._prefixes = prefixes
        self._prefix_cum = list(accumulate(weights))

    def surname(self, rng: random.Random) -> str:
        """A surname by national frequency."""
        return rng.choices(self._surnames, cum_weights=self._surname_cum)[0]

    def given(self, rng: random.Random, sex: str, birth_year: int) -> str:
        """A one- or two-character given name typical of the sex and birth cohort."""
        era = _era(birth_year)
        pool, cum = self._pool[(sex, era)]
        single = (0.35, 0.4, 0.12)[era]
        if rng.random() < single:
            return rng.choices(pool, cum_weights=cum)[0]
        a, b = rng.choices(pool, cum_weights=cum, k=2)
        return a + b

    def person_name(self, rng: random.Random, sex: str, birth_year: int) -> tuple[str, str]:
        """(family, given)."""
        return self.surname(rng), self.given(rng, sex, birth_year)

    def twin_given(self, rng: random.Random, sex: str, birth_year: int, sibling: str) -> str:
        """A twin's given name: shares the first character of a two-character sibling name."""
        if len(sibling) == 2:
            pool, cum = self._pool[(sex, _era(birth_year))]
            for _ in range(8):
                c = rng.choices(pool, cum_weights=cum)[0]
                if c != sibling[1]:
                    return sibling[0] + c
        return self.given(rng, sex, birth_year)

    def pinyin(self, family: str, given: str) -> tuple[str, str]:
        """("Zhang", "Xiaoming") romanisation of a name (characters outside the tables kept)."""
        fam = self._pinyin.get(family) or "".join(self._pinyin.get(c, c) for c in family)
        giv = "".join(self._pinyin.get(c, c) for c in given)
        return fam.capitalize(), giv.capitalize()

    def traditional(self, text: str) -> str:
        """Traditional-character spelling (unchanged characters stay as they are)."""
        return "".join(self._trad.get(c, c) for c in text)

    def has_traditional(self, text: str) -> bool:
        """Whether any character of ``text`` has a different traditional form."""
        return any(c in self._trad for c in text)

    def has_homophone(self, given: str) -> bool:
        """Whether some character of ``given`` has a homophone in the table."""
        return any(c in self._homophones for c in given)

    def homophone(self, rng: random.Random, given: str) -> str | None:
        """The given name with one character replaced by a homophone, or None if impossible."""
        slots = [i for i, c in enumerate(given) if c in self._homophones]
        if not slots:
            return None
        i = slots[int(rng.random() * len(slots))]
        alts = self._homophones[given[i]]
        return given[:i] + alts[int(rng.random() * len(alts))] + given[i + 1 :]

    def mobile(self, rng: random.Random) -> str:
        """An 11-digit mainland mobile number with a real prefix (号段)."""
        prefix = rng.choices(self._prefixes, cum_weights=self._prefix_cum)[0]
        return f"{prefix}{int(rng.random() * 100000000):08d}"
