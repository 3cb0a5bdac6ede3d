"""Population register: households and people, their births and deaths over the simulated years.

A household is composed at the start of the window from a small set of Chinese family templates
(single, couple, nuclear, three-generation, single parent; ~18% 流动人口 households whose 户籍 is in
another county). People get GB 11643 ID numbers consistent with their 户籍 county, birth date and sex,
17-digit 健康档案编号 (county 6 + township 3 + village 3 + sequence 5, standards.md §4.2 [K]), phones,
and during the window women in couples give birth (twins ~1.2%) and people die by age.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rhip.synth import reference
from rhip.synth.geography import Geography, Village
from rhip.synth.ids import IdMaker, UniqueBits, make_id_number
from rhip.synth.names import NameMaker


@dataclass(slots=True, eq=False)
class Person:
    """One resident; ``pid`` is the register Patient id and the ground-truth person id."""

    key: str
    pid: str
    family: str
    given: str
    sex: str
    birth: int
    role: str
    marital: str = "10"
    death: int | None = None
    id_number: str = ""
    ethnicity: tuple[str, str] = ("01", "汉族")
    phone: str = ""
    own_phone: bool = False
    mother: Person | None = None
    father: Person | None = None
    spouse: Person | None = None
    twin: Person | None = None
    namesake_of: str | None = None
    born_in_sim: bool = False
    health_card: str | None = None
    record_no: str = ""
    z_height: float = 0.0
    z_weight: float = 0.0
    chronic: dict[str, int] = field(default_factory=dict)
    regs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """Full name, family name first."""
        return self.family + self.given

    def age_on(self, ordinal: int) -> float:
        """Age in (fractional) years on a day ordinal."""
        return (ordinal - self.birth) / 365.25

    def alive_on(self, ordinal: int) -> bool:
        """Born and not yet dead on a day ordinal."""
        return self.birth <= ordinal and (self.death is None or ordinal < self.death)


@dataclass(slots=True, eq=False)
class Household:
    """A 户: members, village, house number, 户籍 origin for migrants."""

    index: int
    gid: str
    village: Village
    line: str
    migrant: bool
    origin: dict[str, Any] | None
    division: str
    hukou_line: str = ""
    members: list[Person] = field(default_factory=list)


class PopulationState:
    """Cross-household state kept at constant memory: uniqueness bitmaps, namesake reservoir."""

    def __init__(self) -> None:
        self.bits = UniqueBits()
        self.record_seq: dict[str, int] = {}
        self.reservoir: deque[tuple[str, str, str, int, str]] = deque(maxlen=1000)


_TEMPLATES = ("single_young", "single_old", "couple_young", "couple_old", "nuclear", "three_gen", "single_parent")
_TEMPLATE_W = (8, 9, 8, 16, 33, 20, 6)
_MIGRANT_TEMPLATES = ("single_young", "couple_young", "nuclear")
_MIGRANT_W = (35, 25, 40)


class PopulationMaker:
    """Composes households and simulates their births and deaths."""

    def __init__(
        self, geo: Geography, ids: IdMaker, names: NameMaker, start: int, end: int, state: PopulationState
    ) -> None:
        self.geo, self.ids, self.names = geo, ids, names
        self.start, self.end = start, end
        self.state = state

    # --- composition -------------------------------------------------------------------------
    def household(self, rng: random.Random, h: int, max_size: int) -> Household:
        """Household ``h`` with at most ``max_size`` members alive at the start."""
        geo = self.geo
        geo_stems = reference.divisions()["village_stems"]
        village = rng.choices(geo.villages, cum_weights=geo.village_cum_weights)[0]
        migrant = rng.random() < 0.18
        origin = rng.choices(geo.origins, weights=geo.origin_weights)[0] if migrant else None
        if village.is_community:
            line = f"{rng.randint(1, 36)}幢{rng.randint(1, 3)}单元{rng.randint(1, 18)}0{rng.randint(1, 4)}室"
        else:
            line = f"{rng.randint(1, 288)}号"
        division = origin["code"] if origin else village.township.county.code
        hh = Household(h, self.ids.make(f"hh:{h}"), village, line, migrant, origin, division)
        if origin:
            stem = geo_stems[int(rng.random() * len(geo_stems))]
            hh.hukou_line = f"{stem}村{rng.randint(1, 200)}号"
        tmpl = rng.choices(
            _MIGRANT_TEMPLATES if migrant else _TEMPLATES, weights=_MIGRANT_W if migrant else _TEMPLATE_W
        )[0]
        getattr(self, "_" + tmpl)(rng, hh)
        if len(hh.members) > max_size:
            del hh.members[max_size:]
            kept = {id(m) for m in hh.members}
            for m in hh.members:
                for attr in ("spouse", "mother", "father", "twin"):
                    other = getattr(m, attr)
                    if other is not None and id(other) not in kept:
                        setattr(m, attr, None)
        self._namesake(rng, hh)
        self._life_events(rng, hh)
        self._identities(rng, hh)
        return hh

    def _person(
        self, rng: random.Random, hh: Household, sex: str, age: float, role: str, family: str | None = None
    ) -> Person:
        birth = self.start - int(age * 365.25) - rng.randint(0, 364)
        year = date.fromordinal(birth).year
        fam = family or self.names.surname(rng)
        p = Person(f"{hh.index}.{len(hh.members)}", "", fam, self.names.given(rng, sex, year), sex, birth, role)
        p.pid = self.ids.make("person:" + p.key)
        p.z_height, p.z_weight = rng.gauss(0, 1), rng.gauss(0, 1)
        hh.members.append(p)
        return p

    def _couple(self, rng: random.Random, hh: Household, lo: int, hi: int) -> tuple[Person, Person]:
        age = rng.uniform(lo, hi)
        husband = self._person(rng, hh, "male", age, "户主")
        wife = self._person(rng, hh, "female", max(20.0, age - rng.gauss(2, 2)), "配偶")
        husband.spouse, wife.spouse = wife, husband
        husband.marital = wife.marital = "21" if rng.random() < 0.93 else "22"
        return husband, wife

    def _children(
        self, rng: random.Random, hh: Household, mother: Person, father: Person | None, n: int, role_family: str
    ) -> None:
        mother_age = mother.age_on(self.start)
        oldest = mother_age - rng.uniform(21, 32)
        age = oldest
        prev: Person | None = None
        for _i in range(n):
            if age < 0:
                break
            sex = "male" if rng.random() < 0.53 else "female"
            twin = prev is not None and rng.random() < 0.015
            if twin and prev is not None:
                year = date.fromordinal(prev.birth).year
                kid = self._person(rng, hh, sex, 0, "子" if sex == "male" else "女", role_family)
                kid.birth = prev.birth
                kid.given = self.names.twin_given(rng, sex, year, prev.given)
                kid.twin, prev.twin = prev, kid
            else:
                kid = self._person(rng, hh, sex, age, "子" if sex == "male" else "女", role_family)
            kid.mother, kid.father = mother, father
            if kid.age_on(self.start) >= 22 and rng.random() < 0.3:
                kid.marital = "20"
            prev = kid
            age -= rng.uniform(1.5, 8)

    def _single_young(self, rng: random.Random, hh: Household) -> None:
        p = self._person(rng, hh, "male" if rng.random() < 0.55 else "female", rng.uniform(19, 40), "户主")
        p.marital = "40" if p.age_on(self.start) > 30 and rng.random() < 0.2 else "10"

    def _single_old(self, rng: random.Random, hh: Household) -> None:
        p = self._person(rng, hh, "female" if rng.random() < 0.65 else "male", rng.uniform(65, 96), "户主")
        p.marital = rng.choices(("30", "40", "10"), weights=(85, 10, 5))[0]

    def _couple_young(self, rng: random.Random, hh: Household) -> None:
        self._couple(rng, hh, 23, 42)

    def _couple_old(self, rng: random.Random, hh: Household) -> None:
        self._couple(rng, hh, 50, 88)

    def _nuclear(self, rng: random.Random, hh: Household) -> None:
        husband, wife = self._couple(rng, hh, 26, 55)
        n = rng.choices((1, 2, 3), weights=(55, 40, 5))[0]
        self._children(rng, hh, wife, husband, n, husband.family if rng.random() < 0.92 else wife.family)

    def _three_gen(self, rng: random.Random, hh: Household) -> None:
        gp_age = rng.uniform(55, 85)
        grandpa = self._person(rng, hh, "male", gp_age, "户主")
        grandma = None
        if rng.random() < 0.75:
            grandma = self._person(rng, hh, "female", max(45.0, gp_age - rng.gauss(2, 2)), "配偶")
            grandpa.spouse, grandma.spouse = grandma, grandpa
            grandpa.marital = grandma.marital = "21"
        else:
            grandpa.marital = "30"
        parent_age = gp_age - rng.uniform(24, 32)
        if parent_age < 20:
            return
        son_line = rng.random() < 0.75
        husband = self._person(
            rng, hh, "male", parent_age, "子" if son_line else "女婿", grandpa.family if son_line else None
        )
        wife = self._person(
            rng,
            hh,
            "female",
            max(20.0, parent_age - rng.gauss(2, 2)),
            "儿媳" if son_line else "女",
            None if son_line else grandpa.family,
        )
        if son_line:
            husband.father, husband.mother = grandpa, grandma
        else:
            wife.father, wife.mother = grandpa, grandma
        husband.spouse, wife.spouse = wife, husband
        husband.marital = wife.marital = "21"
        self._children(rng, hh, wife, husband, rng.choices((1, 2), weights=(55, 45))[0], husband.family)
        for kid in hh.members[4 if grandma else 3 :]:
            kid.role = "孙子" if kid.sex == "male" else "孙女"

    def _single_parent(self, rng: random.Random, hh: Household) -> None:
        sex = "female" if rng.random() < 0.7 else "male"
        parent = self._person(rng, hh, sex, rng.uniform(28, 50), "户主")
        parent.marital = "40" if rng.random() < 0.75 else "30"
        if sex == "female":
            self._children(rng, hh, parent, None, 1, parent.family)
        else:
            tmp = Person("", "", "", "", "female", parent.birth + rng.randint(0, 1500), "")
            self._children(rng, hh, tmp, parent, 1, parent.family)
            hh.members[-1].mother = None

    # --- hard cases ---------------------------------------------------------------------------
    def _namesake(self, rng: random.Random, hh: Household) -> None:
        """Occasionally give an adult the name and birthday of an unrelated earlier person."""
        fathers = {id(k.father) for k in hh.members if k.father is not None}
        adults = [p for p in hh.members if p.age_on(self.start) >= 18 and id(p) not in fathers and p.twin is None]
        res = self.state.reservoir
        if adults and res and rng.random() < 0.01:
            p = adults[int(rng.random() * len(adults))]
            same_sex = [r for r in res if r[2] == p.sex and abs(r[3] - p.birth) < 3650]
            if same_sex:
                fam, giv, _, birth, pid = same_sex[int(rng.random() * len(same_sex))]
                p.family, p.given, p.birth, p.namesake_of = fam, giv, birth, pid
        for p in adults:
            if p.namesake_of is None:
                res.append((p.family, p.given, p.sex, p.birth, p.pid))

    # --- life events --------------------------------------------------------------------------
    def _life_events(self, rng: random.Random, hh: Household) -> None:
        start_year = date.fromordinal(self.start).year
        end_year = date.fromordinal(self.end).year
        for year in range(start_year, end_year + 1):
            y0 = date(year, 1, 1).toordinal()
            for p in list(hh.members):
                if p.death is not None or p.birth > y0 + 364:
                    continue
                age = max(0.0, p.age_on(y0))
                q = min(0.35, 0.000025 * math.exp(0.095 * age)) + (0.003 if age < 1 else 0.0)
                if rng.random() < q:
                    p.death = max(p.birth + 1, y0 + rng.randint(0, 364))
                    if p.spouse is not None and p.spouse.death is None:
                        p.spouse.marital = "30"
            for mother in [m for m in hh.members if m.sex == "female" and m.spouse is not None]:
                self._maybe_birth(rng, hh, mother, y0)

    def _maybe_birth(self, rng: random.Random, hh: Household, mother: Person, y0: int) -> None:
        age = mother.age_on(y0)
        if not 20 <= age <= 42 or mother.death is not None:
            return
        kids = [p for p in hh.members if p.mother is mother]
        p_birth = (0.10, 0.04, 0.008)[min(len(kids), 2)]
        if rng.random() >= p_birth:
            return
        birth = y0 + rng.randint(0, 364)
        if kids and birth - max(k.birth for k in kids) < 450:
            return
        if birth > self.end or (mother.death is not None and birth >= mother.death):
            return
        father = mother.spouse
        family = father.family if father is not None and rng.random() < 0.92 else mother.family
        n = 2 if rng.random() < 0.012 else 1
        prev: Person | None = None
        for _ in range(n):
            sex = "male" if rng.random() < 0.53 else "female"
            kid = self._person(rng, hh, sex, 0, "子" if sex == "male" else "女", family)
            kid.birth, kid.born_in_sim = birth, True
            kid.mother, kid.father = mother, father
            if prev is not None:
                kid.given = self.names.twin_given(rng, sex, date.fromordinal(birth).year, prev.given)
                kid.twin, prev.twin = prev, kid
            prev = kid

    # --- identities ---------------------------------------------------------------------------
    def _identities(self, rng: random.Random, hh: Household) -> None:
        eth = reference.ethnicities()
        eth_w = [e[3] if hh.migrant else e[2] for e in eth]
        bits = self.state.bits
        village = hh.village
        base_eth = rng.choices(eth, weights=eth_w)[0]
        for p in hh.members:
            pick = base_eth if rng.random() < 0.9 else rng.choices(eth, weights=eth_w)[0]
            p.ethnicity = (pick[0], pick[1])
            p.id_number = self._id_number(rng, hh.division, p, bits)
            seq = self.state.record_seq.get(village.code, 0) + 1
            self.state.record_seq[village.code] = seq
            p.record_no = f"{village.code}{seq:05d}"
            if rng.random() < 0.55:
                while True:
                    card = f"33{int(rng.random() * 10**16):016d}"
                    if bits.claim(int(card) * 7 + 3):
                        break
                p.health_card = card
            age = p.age_on(self.end)
            if 14 <= age < 80 or (age >= 80 and rng.random() < 0.5):
                p.phone, p.own_phone = self.names.mobile(rng), True
        for p in hh.members:
            if not p.own_phone:
                carer = next((q for q in (p.mother, p.father) if q is not None and q.own_phone), None)
                if carer is None:
                    carer = next((q for q in hh.members if q.own_phone), None)
                p.phone = carer.phone if carer else f"{self.geo.city['area_code']}-{rng.randint(2000000, 8999999)}"

    def _id_number(self, rng: random.Random, division: str, p: Person, bits: UniqueBits) -> str:
        birth = date.fromordinal(p.birth)
        parity = 1 if p.sex == "male" else 0
        twin_seq = -1
        if p.twin is not None and p.twin.id_number and p.twin.birth == p.birth:
            twin_seq = int(p.twin.id_number[14:17])  # twins are registered one after the other
        for attempt in range(2000):
            if twin_seq >= 0 and attempt < 10:
                seq = twin_seq - twin_seq % 2 + 2 * (attempt + 1) + parity
                if seq > 999:
                    continue
            else:
                seq = int(rng.random() * 500) * 2 + parity
            number = make_id_number(division, birth, seq)
            if bits.claim(int(number[:17]) * 7):
                return number
        raise RuntimeError("ID number space exhausted for " + division + str(birth))
