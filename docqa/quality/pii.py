"""Personal data in QA pairs: forms, invoices and letters print names, e-mail addresses, phone numbers, bank
accounts and ID numbers, and a pair that repeats one would publish it with the dataset.

What is found, in a question or an answer, by kind:

- `email`: an address of the usual shape (`name@host.tld`).
- `phone`: a number `phonenumbers` finds and validates (Google's libphonenumber metadata), its digits
  grouped as that country groups them (leniency STRICT_GROUPING: with VALID, dates such as 02-15-2015,
  decimals and arXiv ids were taken for phones on shared/corpus): written with a "+" or "00" country
  prefix, or in the national format of one of `pii.phone_regions`. A run of digits
  without any separator ("5319419588") counts only when the pair speaks of a phone (tel, fax, mobile...):
  invoice, order and tax numbers look like that too.
- `iban`: an IBAN whose check digits are right (`stdnum.iban`), with or without spaces.
- `id_number`: numbers with a checksum, validated by `python-stdnum`: EU VAT numbers with their country
  prefix (NL004271920B01), and, when the pair names an identifier (tax, VAT, social security, PESEL, NIP,
  BSN, DNI, SSN...), national ID and tax numbers of several countries (US SSN, Polish PESEL and NIP, Dutch
  BSN, German tax ID, French NIR, Spanish DNI/NIE, Italian codice fiscale, Belgian national number). A
  checksum passes for about one random number in ten, hence the need for the word.
- `person_name`: an answer made of two to four capitalised words or initials ("Maria Keller", "J. Alvarez",
  "ALBRIEU, Oscar") to a question that asks for a person: who, full name, surname, applicant, owner,
  contact, signature, holder, tenant... (English, French, German, Spanish, Dutch, Polish words; a bare
  "name" is not enough: the name of a vessel, a road or a firm). Limits: a name asked for
  with other words, or written in lower case or a script without case (Chinese, Arabic), is missed; an
  organisation or place named like a person ("Sea Lark", a ship) is taken for one unless a word of it
  says what it is (Ltd, GmbH, University, Road...); a public figure (the author of a paper, a council's
  chair) is personal data here too.

A pair with personal data is dropped (`personal_data`, the kinds found in `about`) or its whole window is
rejected, as `pii.policy` says; the pair is written to `dropped/` with each finding replaced by its kind in
brackets ("[email]"), since `dropped/` is published with the dataset. The page images still show what the
pairs asked about: only `drop_window` keeps those pages out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
from stdnum import iban
from stdnum.be import nn as be_nn
from stdnum.de import idnr as de_idnr
from stdnum.es import dni as es_dni
from stdnum.es import nie as es_nie
from stdnum.eu import vat as eu_vat
from stdnum.fr import nir as fr_nir
from stdnum.it import codicefiscale as it_codicefiscale
from stdnum.nl import bsn as nl_bsn
from stdnum.pl import nip as pl_nip
from stdnum.pl import pesel as pl_pesel
from stdnum.us import ssn as us_ssn

KINDS = ("email", "phone", "iban", "id_number", "person_name")
MIN_PHONE_DIGITS = 6  # fewer digits make no phone number anywhere (a text without them is not searched)
PERSONAL_DATA = "personal_data"  # a dropped pair's reason, a rejected window's kind
IN_WINDOW = "personal_data_in_window"  # the reason of a clean pair dropped with its window (pii.policy drop_window)

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_VAT = re.compile(r"\b(?:[A-Z]{2}|EL) ?[0-9A-Z][0-9A-Z .-]{6,14}[0-9A-Z]\b")
# Candidates for national numbers: digits (with the usual separators), or digits and letters as the Spanish
# and Italian ones are written.
_NATIONAL = re.compile(r"\b(?:\d[\d .-]{7,18}\d|[XYZ]?\d{7,8}[A-Z]|[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z])\b")
_NATIONAL_IDS: tuple[Callable[[str], bool], ...] = tuple(
    module.is_valid
    for module in (us_ssn, pl_pesel, pl_nip, nl_bsn, de_idnr, fr_nir, es_dni, es_nie, it_codicefiscale, be_nn)
)
_PHONE_WORDS = re.compile(
    r"\b(?:phone|tel|telephone|fax|mobile|cell|call|téléphone|portable|telefon|telefoon|teléfono|telefono|"
    r"handy|gsm|komórk\w*|電話)",
    re.IGNORECASE,
)
_ID_WORDS = re.compile(
    r"\b(?:id|identity|identification|identifier|ssn|social security|tax|taxpayer|vat|passport|national|"
    r"pesel|nip|regon|bsn|btw|sofi|dni|nie|nif|cif|nir|insee|codice fiscale|steuer\w*|ust|tva|siren|siret|"
    r"personnummer|numer|numéro|nummer|número|identyfika\w*|sécurité sociale|sozialversicherung\w*)\b",
    re.IGNORECASE,
)
# Words of a question that asks for a person. A bare "name" does not: the name of a vessel, a road, a firm.
_ASKS_FOR_PERSON = re.compile(
    r"\b(?:who|whom|whose|full name|first name|last name|surname|given name|family name|applicant|owner|"
    r"contact|signed|signature|signatory|holder|tenant|landlord|employee|patient|recipient|addressee|sender|"
    r"customer|client|spouse|beneficiary|taxpayer|"
    r"qui|nom de famille|prénom|demandeur|titulaire|signataire|signé|destinataire|locataire|propriétaire|"
    r"wer|wem|wessen|vorname|nachname|antragsteller\w*|inhaber\w*|unterzeichnet|unterschrift|empfänger\w*|"
    r"mieter\w*|quién|apellido\w*|solicitante|titular|firmado|firma|"
    r"wie|voornaam|achternaam|aanvrager|eigenaar|ondertekend|handtekening|ontvanger|"
    r"kto|imię|nazwisko|wnioskodawca|właściciel|podpis|odbiorca)\b",
    re.IGNORECASE,
)
_NAME_WORD = re.compile(r"(?:[^\W\d_]\.|[^\W\d_][^\W\d_'’-]*(?:[-'’][^\W\d_]+)*),?")
# Words that say a capitalised answer names an organisation, a place or a thing rather than a person.
_NOT_A_PERSON = frozenset({
    "ab", "ag", "as", "avenue", "bank", "bay", "bv", "b.v.", "co", "co.", "college", "committee", "company",
    "corp", "corp.", "corporation", "council", "court", "department", "gmbh", "group", "harbour", "hospital",
    "inc", "inc.", "institute", "kg", "limited", "llc", "ltd", "ltd.", "marina", "ministry", "office", "park",
    "plc", "road", "s.a.", "sa", "sarl", "school", "service", "services", "society", "spa", "street", "the",
    "university",
})


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int


def _emails(text: str) -> list[Finding]:
    return [Finding("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]


def _ibans(text: str) -> list[Finding]:
    return [Finding("iban", m.start(), m.end()) for m in _IBAN.finditer(text) if iban.is_valid(m.group())]


def _id_numbers(text: str, named: bool) -> list[Finding]:
    found = [Finding("id_number", m.start(), m.end()) for m in _VAT.finditer(text) if eu_vat.is_valid(m.group())]
    if named:
        found += [
            Finding("id_number", m.start(), m.end())
            for m in _NATIONAL.finditer(text)
            if any(is_valid(m.group()) for is_valid in _NATIONAL_IDS)
        ]
    return found


def _phones(text: str, regions: tuple[str, ...], named: bool) -> list[Finding]:
    found: list[Finding] = []
    if sum(c.isdigit() for c in text) < MIN_PHONE_DIGITS:
        return found
    for region in regions:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.STRICT_GROUPING):
            written = match.raw_string
            if named or written.startswith(("+", "00")) or not written.isdigit():
                found.append(Finding("phone", match.start, match.end))
    return found


def _person_name(question: str, answer: str) -> list[Finding]:
    stripped = answer.strip().rstrip(".")
    words = stripped.split()
    if not _ASKS_FOR_PERSON.search(question) or not 2 <= len(words) <= 4:
        return []
    if not all(_NAME_WORD.fullmatch(w) and w[0].isupper() for w in words):
        return []
    if any(w.lower().rstrip(",") in _NOT_A_PERSON for w in words) or all(len(w.rstrip(".,")) == 1 for w in words):
        return []
    start = answer.index(stripped)
    return [Finding("person_name", start, start + len(stripped))]


@dataclass(frozen=True)
class PersonalDataFinder:
    """Finds the `kinds` of personal data in a QA pair; national phone formats are read as `regions` write them."""

    kinds: tuple[str, ...] = KINDS
    regions: tuple[str, ...] = ()

    def find(self, question: str, answer: str) -> dict[str, list[Finding]]:
        """The findings in each of question and answer: {"question": [...], "answer": [...]}."""
        both = f"{question}\n{answer}"
        phone_named, id_named = bool(_PHONE_WORDS.search(both)), bool(_ID_WORDS.search(both))
        findings = {}
        for part, text in (("question", question), ("answer", answer)):
            found: list[Finding] = []
            if "email" in self.kinds:
                found += _emails(text)
            if "iban" in self.kinds:
                found += _ibans(text)
            if "id_number" in self.kinds:
                found += _id_numbers(text, id_named)
            if "phone" in self.kinds:
                found += [f for f in _phones(text, self.regions, phone_named) if not _overlaps(f, found)]
            if "person_name" in self.kinds and part == "answer":
                found += _person_name(question, text)
            findings[part] = _outermost(found)
        return findings


def _overlaps(finding: Finding, others: list[Finding]) -> bool:
    return any(finding.start < o.end and o.start < finding.end for o in others)


def _outermost(findings: list[Finding]) -> list[Finding]:
    """Findings that no earlier or longer one covers, in text order (a VAT number inside an IBAN goes)."""
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (f.start, -(f.end - f.start))):
        if not _overlaps(finding, kept):
            kept.append(finding)
    return kept


def masked(text: str, findings: list[Finding]) -> str:
    """`text` with each finding replaced by its kind in brackets: "write to [email]"."""
    for finding in sorted(findings, key=lambda f: f.start, reverse=True):
        text = f"{text[: finding.start]}[{finding.kind}]{text[finding.end :]}"
    return text
