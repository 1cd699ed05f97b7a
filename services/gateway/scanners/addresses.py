"""Street addresses for the PII scanner: patterns anchored on a street type next to a house number.

An address has no checksum, but it has a shape that prose rarely takes: a house number beside a
street type. Three word orders cover most of the world's street addresses:

- number first, type last (English-speaking countries): "1600 Pennsylvania Avenue NW", "Flat 2,
  17 Jones Light"; the types are the US Postal Service's street suffixes (Publication 28, appendix
  C1: "Stravenue", "Plains", "Crossing") and the British, Irish and Australian ones ("Close",
  "Mews", "Laneway");
- a compound street name, then the number (German, Dutch, Nordic): "Hauptstraße 5",
  "Andrej-Seip-Weg 6", "Gerritsingel 7";
- the type first (French, Spanish, Italian, Portuguese): "5, avenue Samson", "Calle de Alcalá 12",
  "Via Roma, 47".

Each may run on into a unit ("Apt. 533", "Piso 2"), a city, a state or province and a postal code
(US ZIP, Canadian, British, Irish Eircode, four- and five-digit codes), so the whole address is
redacted, not its first line only. US military addresses ("Unit 0837 Box 7835, DPO AE 89216")
have their own shape. Recall and precision are measured on made-up addresses of ten locales and
on everyday prompts without any (docs/safety.md, tests/gateway/scanners/test_addresses.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from services.gateway.scanners.base import Finding

__all__ = ["street_addresses"]

# US Postal Service standard suffixes and their abbreviations (Publication 28, appendix C1), then
# the common British and Irish ones, then those of the Australian standard (AS 4590) that are not
# also everyday words ("Top", "Line", "Round" are left out); a plural "s" is allowed ("Plains").
# "Fall", "Spring" and "Union" are left out of the USPS list: after a year they are history ("2011
# Arab Spring"), and they rarely end a street's name.
_ENGLISH_TYPE_WORDS = """
Alley Aly Annex Anx Arcade Arc Avenue Ave Av Bayou Byu Beach Bch Bend Bnd Bluff Blf Bottom Btm Boulevard Blvd Branch
Br Bridge Brg Brook Brk Burg Bg Bypass Byp Camp Cp Canyon Cyn Cape Cpe Causeway Cswy Center Centre Ctr Circle Cir
Cliff Clf Club Clb Common Cmn Corner Cor Course Crse Court Ct Cove Cv Creek Crk Crescent Cres Crest Crst Crossing
Xing Crossroad Xrd Curve Curv Dale Dl Dam Dm Divide Dv Drive Dr Estate Est Expressway Expy Extension Ext Ferry
Fry Field Fld Flat Flt Ford Frd Forest Frst Forge Frg Fork Frk Fort Ft Freeway Fwy Garden Gdn Gardens Gdns Gateway
Gtwy Glen Gln Green Grn Grove Grv Harbor Harbour Hbr Haven Hvn Heights Hts Highway Hwy Hill Hl Hollow Holw Inlet
Inlt Island Is Isle Junction Jct Key Ky Knoll Knl Lake Lk Land Landing Lndg Lane Ln Light Lgt Loaf Lf Lock Lck Lodge
Ldg Loop Mall Manor Mnr Meadow Mdw Mews Mill Ml Mission Msn Motorway Mtwy Mount Mt Mountain Mtn Neck Nck Orchard
Orch Oval Overpass Opas Park Parkway Pkwy Pass Passage Psge Path Pike Pine Pne Place Pl Plain Pln Plaza Plz Point Pt
Port Prt Prairie Pr Radial Radl Ramp Ranch Rnch Rapid Rpd Rest Rst Ridge Rdg River Riv Road Rd Route Rte Row Rue Run
Shoal Shl Shore Shr Skyway Skwy Spur Square Sq Station Sta Stravenue Stra Stream Strm Street St Summit
Smt Terrace Ter Throughway Trwy Trace Trce Track Trak Trafficway Trfy Trail Trl Trailer Trlr Tunnel Tunl Turnpike
Tpke Underpass Upas Valley Vly Viaduct Via View Vw Village Vlg Ville Vl Vista Vis Walk Wall Way Well Wl
Approach Broadway Chase Circus Close Cl Embankment Esplanade Gate Gardens Grange Hey Laneway Parade Pde Quay Rise
Vale Wharf Wynd Yard Edge End
Access Alleyway Amble Anchorage Artery Basin Boardwalk Brace Brae Brow Byway Circuit Colonnade Concourse Copse
Courtyard Crossway Cutting Dell Deviation Driveway Elbow Entrance Fairway Follow Footway Foreshore Glade Gully
Highroad Interchange Lookout Meander Nook Outlook Parklands Pathway Promenade Quadrant Ramble Reach Reserve Retreat
Ride Ridgeway Riverway Roadway Ronde Rotary Strand Thoroughfare Tollway Walkway Wade Firetrail
"""
_ENGLISH_TYPE = "(?:" + "|".join(sorted(set(_ENGLISH_TYPE_WORDS.split()), key=len, reverse=True)) + r")s?\b\.?"
_DIRECTION = r"(?:\s+(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\b\.?)?"
_UNIT = (
    r"(?:Apt|Apartment|Suite|Ste|Unit|Flat|Studio|Level|Floor|Fl|Room|Rm"
    r"|Piso|Puerta|Appartamento|Piano|Interno|Étage|#)"
)
_CITY_WORD = r"[A-ZÀ-ÖØ-Þ'](?:[^\W\d_]|['’.-])*(?!\d)"  # no digits: "London NW1 6XE" ends in a postcode
_CITY = rf"{_CITY_WORD}(?:[ -](?:(?:de|del|la|le|les|sur|am|an|im|aan|den|upon|on)\s+)?{_CITY_WORD}){{0,3}}"
_POSTCODE = (
    r"(?:\d{5}(?:-\d{4})?"  # US ZIP, and the five-digit codes of much of Europe
    r"|[A-Z]\d[A-Z]\s?\d[A-Z]\d"  # Canada
    r"|[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}"  # United Kingdom
    r"|[A-Z]\d[\dW]\s?[A-Z\d]{4}"  # Ireland (Eircode)
    r"|\d{4}(?:\s?[A-Z]{2})?)"  # Australia, the Netherlands ("1317 YB"), Austria, Switzerland, ...
)
# What may follow a street: a unit, then ", City", a state or province, a postal code, in the
# orders the three families write them.
_TAIL = (
    rf"(?:,?\s+{_UNIT}\.?\s*[\w-]+)?"
    rf"(?:,?\s*{_POSTCODE}\b(?:,?\s+{_CITY})?)?"
    rf"(?:\s*,\s*{_CITY})?"
    r"(?:,?\s*\(?[A-Z]{2,3}\b\)?\.?)?"
    rf"(?:,?\s*{_POSTCODE}\b)?"
)

_HOUSE_NUMBER = r"\b\d{1,6}[A-Za-z]?(?:[-/]\d{1,4}[A-Za-z]?)?,?\s+"
_NUMBER_FIRST = re.compile(
    # "Flat 2, 17 Jones Light" or, where the unit's number is the only one, "Studio 8, Leigh Fort".
    rf"(?:\b{_UNIT}\.?\s*\w+,?\s+(?:{_HOUSE_NUMBER})?|{_HOUSE_NUMBER})"
    r"(?:[A-Z][\w'’.-]*\s+){1,4}?"
    rf"{_ENGLISH_TYPE}{_DIRECTION}{_TAIL}"
)
# German, Dutch and Nordic street names end in their type: one word, or words joined by hyphens.
# "-ring" counts only after four letters ending in a consonant ("Kaiserring 5", not "During 2021"
# or "Monitoring 2"); "-pad" is left out ("iPad 2").
_COMPOUND_TYPE = (
    r"(?:straße|strasse|str\.|weg|gasse|allee|platz|damm|ufer|pfad|steig|chaussee|markt|hof|laan"
    r"|straat|gracht|singel|plein|kade|dijk|steeg|baan|dreef|boulevard|gade|vej|vei|vägen|gatan|väg|gata)"
)
_NUMBER_AFTER = re.compile(
    rf"\b(?:[A-ZÄÖÜÅØÆ][\w'’.]*(?:-[\w'’.]+)*?-?(?i:{_COMPOUND_TYPE})|[A-ZÄÖÜ][\w'’.]{{2,}}[b-df-hj-np-tv-zß]ring)"
    r"\s+\d{1,5}[a-zA-Z]?(?:\s?[-/]\s?\d{1,5}[a-zA-Z]?)?\b"
    rf"{_TAIL}"
)
# French, Spanish, Italian and Portuguese write the type first. French puts the house number before
# it ("5, avenue Samson"), Spanish, Italian and Portuguese after the name ("Calle Mayor 5", "Via
# Roma, 47"); a name with neither a number nor a postal code after it ("via Slack", "Plaza Hotel")
# is not an address. The French types are also English words ("Avenue Elementary School, 600"), so
# they take the number only before.
_FRENCH_TYPE = r"(?:rue|avenue|av\.|boulevard|bd|chemin|impasse|allée|place|quai|route|cours|passage|square)"
_SOUTHERN_TYPE = (
    r"(?:calle|c/|c\.|avenida|avda\.|plaza|paseo|camino|carrera|ronda|cuesta|travesía|glorieta|callejón|pasaje"
    r"|rambla|vía|via|viale|piazza|piazzale|corso|strada|stretto|vicolo|largo|borgo|contrada|rotonda|incrocio|rua"
    r"|travessa|alameda|praça|acceso|bajada|cañada|carretera|pasadizo|urbanización|vereda|canale|salita|campo"
    r"|traversa|lungomare|circonvallazione|vial)"
)
_PARTICLE = r"(?:de|del|de la|de los|de las|di|da|dei|della|delle|degli|du|des|de l'|d'|do|dos|das)"
_STREET_NAME = rf"\s+(?:{_PARTICLE}\s*)?{_CITY_WORD}(?:\s+(?:{_PARTICLE}\s+|y\s+|e\s+)?{_CITY_WORD}){{0,4}}"
_TYPE_AFTER_NUMBER = re.compile(
    rf"\b\d{{1,4}}(?:\s?(?:bis|ter))?,?\s+(?i:{_FRENCH_TYPE}|{_SOUTHERN_TYPE}){_STREET_NAME}{_TAIL}"
)
_TYPE_THEN_NUMBER = re.compile(
    # Capitalised here: "Via Roma 12" is an address, "sent via Slack 2 times" is not.
    rf"\b(?=[A-ZÁÉÍÓÚ])(?i:{_SOUTHERN_TYPE}){_STREET_NAME}"
    rf"(?:,?\s+\d{{1,4}}[A-Za-z]?\b{_TAIL}|,?\s+(?=\d{{4,5}}\b){_TAIL})"
    rf"|\b(?i:{_FRENCH_TYPE}){_STREET_NAME},?\s+\d{{5}}\s+{_CITY}"
)
_MILITARY = re.compile(
    r"\b(?:Unit|PSC|USNS|USS|USNV|USCGC)\s+[\w ]{1,30}?,?\s+(?:Box\s+\d+,?\s+)?[AFD]PO\s+A[AEP]\s+\d{5}\b"
)


def _words(alternation: str) -> tuple[str, ...]:
    return tuple(word.replace("\\.", ".") for word in alternation.strip("(?:)").split("|"))


# Each pattern with the lower-case words one of which must appear before it is worth running
# (None: always run). A substring test is far cheaper than a pattern tried at every word.
_PATTERNS: tuple[tuple[re.Pattern[str], tuple[str, ...] | None], ...] = (
    (_NUMBER_FIRST, None),
    (_NUMBER_AFTER, (*_words(_COMPOUND_TYPE), "ring")),
    (_TYPE_AFTER_NUMBER, _words(_FRENCH_TYPE) + _words(_SOUTHERN_TYPE)),
    (_TYPE_THEN_NUMBER, _words(_FRENCH_TYPE) + _words(_SOUTHERN_TYPE)),
    (_MILITARY, ("po a",)),
)


def street_addresses(text: str) -> Iterator[Finding]:
    """Street addresses in `text`, each span the longest any of the patterns gives at its start."""
    if not any(character.isdigit() for character in text):
        return
    lowered = text.lower()
    spans: list[tuple[int, int]] = []
    for pattern, hints in _PATTERNS:
        if hints is None or any(hint in lowered for hint in hints):
            spans += [(m.start(), m.end()) for m in pattern.finditer(text)]
    last_end = -1
    for start, end in sorted(spans, key=lambda span: (span[0], -span[1])):
        if start >= last_end:
            # A final "." is left in the text: after "Road" it ends the sentence, and after "Rd" it
            # gives nothing away.
            end = len(text[:end].rstrip(" ,."))
            yield Finding("street_address", start, end, 0.85)
            last_end = end
