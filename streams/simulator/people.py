"""Fake people: names and dates of birth that exist only inside the simulator, and what may leave it.

A participant's name and date of birth are used for one thing: computing the participant key, exactly as
a provider's system would (streams.participant_key). They are never put in a message.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from streams.participant_key import participant_key
from streams.simulator import network as n
from streams.simulator.draws import Weighted

FIRST_NAMES = (  # noqa: SIM905 (a word list reads best as words)
    "James Michael Robert John David William Richard Joseph Thomas Christopher Charles Daniel Matthew "
    "Anthony Mark Donald Steven Andrew Paul Joshua Kenneth Kevin Brian Timothy Ronald George Jason Edward "
    "Jeffrey Ryan Jacob Nicholas Gary Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel "
    "Gregory Alexander Patrick Frank Raymond Jack Dennis Jerry Tyler Aaron Jose Adam Nathan Henry Zachary "
    "Douglas Peter Kyle Noah Ethan Jeremy Christian Walter Keith Austin Roger Terry Sean Gerald Carl Dylan "
    "Harold Jordan Jesse Bryan Lawrence Arthur Gabriel Bruce Logan Billy Joe Alan Juan Elijah Willie Albert "
    "Wayne Randy Mason Vincent Liam Roy Bobby Caleb Bradley Russell Lucas DeShawn Jamal Marquis Tyrone "
    "Darnell Malik Andre Terrell Cedric Dakota Cody Colton Wyatt Hunter Koda Takoda Chayton Miguel Luis "
    "Carlos Jesus Alejandro Javier Diego Mateo Angel Mary Patricia Jennifer Linda Elizabeth Barbara Susan "
    "Jessica Sarah Karen Lisa Nancy Betty Sandra Margaret Ashley Kimberly Emily Donna Michelle Carol Amanda "
    "Melissa Deborah Stephanie Rebecca Sharon Laura Cynthia Dorothy Amy Kathleen Angela Shirley Brenda Emma "
    "Anna Pamela Nicole Samantha Katherine Christine Helen Debra Rachel Carolyn Janet Maria Catherine "
    "Heather Diane Olivia Julie Joyce Victoria Ruth Virginia Lauren Kelly Christina Joan Evelyn Judith "
    "Andrea Hannah Megan Cheryl Jacqueline Martha Madison Teresa Gloria Sara Janice Ann Kathryn Abigail "
    "Sophia Frances Jean Alice Judy Isabella Julia Grace Amber Denise Danielle Marilyn Beverly Charlotte "
    "Natalie Theresa Diana Brittany Doris Kayla Alexis Lori Marie Aiyana Winona Imani Aaliyah Keisha "
    "Tamika Jasmine Ebony Guadalupe Ximena Lucia Valeria José Zoë Renée"
).split()

LAST_NAMES = (  # noqa: SIM905
    "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore Martin Jackson "
    "Thompson White Harris Clark Lewis Robinson Walker Young Allen King Wright Scott Hill Green Adams Baker "
    "Nelson Mitchell Campbell Roberts Carter Phillips Evans Turner Parker Collins Edwards Stewart Morris "
    "Murphy Cook Rogers Morgan Cooper Peterson Reed Bailey Bell Kelly Howard Ward Cox Richardson Wood "
    "Watson Brooks Bennett Gray James Hughes Price Sanders Myers Long Ross Foster Powell Jenkins Perry "
    "Russell Sullivan Butler Barnes Fisher Henderson Coleman Simmons Patterson Jordan Reynolds Hamilton "
    "Graham Wallace Cole West Owens Stone Hayes Gibson Ellis Ford Marshall Wells Webb Hunt Crawford Holmes "
    "Palmer Black Robertson Dixon Hawkins Boyd Mason Warren Knight Grant Burns Freeman Washington Jefferson "
    "Banks Franklin Dean Harper Greene Lane Stephens Wade Tucker Porter Hunter Ray Spencer Carpenter Hudson "
    "Harjo Tiger Bearpaw Wildcat Factor Yahola Deer Starr Proctor Cornsilk Hummingbird Sixkiller Fixico "
    "Bigpond Chupco Kingfisher Ketcher Whitekiller Littledave Goback Hawzipta Tsoodle Haozous Toahty "
    "Garcia Rodriguez Martinez Hernandez Lopez Gonzalez Perez Sanchez Ramirez Torres Flores Rivera Gomez "
    "Diaz Cruz Morales Reyes Gutierrez Ortiz Chavez Ramos Ruiz Alvarez Mendoza Castillo Vasquez Jimenez "
    "Nguyen Tran Le Pham Kim Patel Chen O'Brien O'Neal McIntosh St.John Peña Núñez"
).split()

_RACE = Weighted(n.RACE_ALONE_WEIGHTS)
_GENDER = Weighted(n.GENDER_WEIGHTS)
_COUNTY = Weighted(n.COUNTY_WEIGHTS)
_PATHWAY = Weighted(n.PATHWAY_WEIGHTS)


@dataclass(frozen=True, slots=True)
class Person:
    """A participant as the network's providers see them: their key and what intake forms record."""

    key: str
    county: str
    zip3: str | None
    gender: str
    birth_year: int | None
    race_ethnicity: tuple[str, ...]
    pathway: str
    born: date


def draw_race_ethnicity(rng: random.Random) -> tuple[str, ...]:
    if rng.random() < n.RACE_NOT_RECORDED:
        return ()
    races = {_RACE.draw(rng)}
    if rng.random() < n.SECOND_RACE_AIAN:
        races.add("american_indian_alaska_native")
    if rng.random() < n.HISPANIC:
        races.add("hispanic_latino")
    # Sorted: a provider's form lists boxes in a fixed order; it also keeps the bytes deterministic.
    return tuple(sorted(races))


def draw_birth_date(rng: random.Random, entry_year: int) -> date:
    low, high = n.AGE_AT_ENTRY
    # Two uniforms' minimum skews ages young: most CVI participants are in their late teens and twenties.
    age = low + min(rng.random(), rng.random()) * (high - low)
    return date(entry_year, 7, 1) - timedelta(days=int(age * 365.25))


def draw_person(rng: random.Random, secret: str, entry_year: int, taken: set[str]) -> Person:
    """A new person whose key is not in `taken` (two fake people must not share a name and birthday)."""
    while True:
        born = draw_birth_date(rng, entry_year)
        key = participant_key(secret, rng.choice(LAST_NAMES), rng.choice(FIRST_NAMES), born)
        if key not in taken:
            break
    taken.add(key)
    county = _COUNTY.draw(rng)
    return Person(
        key=key,
        county=county,
        zip3=None if rng.random() < n.ZIP3_MISSING else rng.choice(n.ZIP3_BY_COUNTY[county]),
        gender=_GENDER.draw(rng),
        birth_year=None if rng.random() < n.BIRTH_YEAR_MISSING else born.year,
        race_ethnicity=draw_race_ethnicity(rng),
        pathway=_PATHWAY.draw(rng),
        born=born,
    )
