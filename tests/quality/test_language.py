"""Languages: of windows, as the load stage names them on real PDFs from shared/corpus, and of QA pairs, which
are dropped when they are clearly in another language than their document's. Real lingua, real PyMuPDF."""

import pytest

from docqa.config import InputConfig, LimitsConfig, RenderConfig, TextConfig
from docqa.ingest.load import LoadDocuments
from docqa.quality.filters import language_consistency
from docqa.quality.language import detect_language
from docqa.records import QAPair, SourceDocument

# Documents of one language each, as MANIFEST.tsv labels them.
DOCUMENTS = {
    "pdfminer__issue-625-identity-cmap.pdf": "pl",  # Faktura VAT
    "pdfminer__issue-1062-filters.pdf": "nl",  # SAP invoice, Lenze B.V.
    "pdfplumber__2023-06-20-PV.pdf": "fr",  # procès-verbal
    "camelot__failing_sort.pdf": "de",  # cinema programme
    "camelot__argentina_diputados_voting_record.pdf": "es",
    "pdfjs__issue16538.pdf": "ja",
    "camelot__indictb1h_14.pdf": "he",
    "pdfplumber__scotus-transcript-p1.pdf": "en",
}


@pytest.fixture(scope="module")
def windows(shared_corpus):
    load = LoadDocuments(InputConfig(), RenderConfig(), TextConfig(ocr=False), LimitsConfig())
    loaded = load([SourceDocument(str(shared_corpus / "normal" / name)) for name in DOCUMENTS])
    return {w.source_path.rsplit("/", 1)[-1]: w for w in loaded if w.window == 0}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_load_stage_names_each_windows_language(windows, name):
    assert windows[name].language == DOCUMENTS[name]


# Pairs in the document's language, or not, about the documents above.
PAIRS = [
    ("pdfminer__issue-625-identity-cmap.pdf", "Jaki jest termin płatności faktury?", "2021-05-03", None),
    ("pdfminer__issue-625-identity-cmap.pdf", "What is the payment deadline of the invoice?", "2021-05-03", "en"),
    ("pdfminer__issue-1062-filters.pdf", "Wie is de factuurontvanger?", "Supertape B.V.", None),
    ("pdfminer__issue-1062-filters.pdf", "Who receives the invoice from Lenze?", "Supertape B.V.", "en"),
    ("pdfplumber__2023-06-20-PV.pdf", "Quel est le montant total de la facture ?", "1 250,00 EUR", None),
    ("pdfplumber__2023-06-20-PV.pdf", "À quelle heure la séance est-elle ouverte ?", "16h00", None),
    ("pdfplumber__2023-06-20-PV.pdf", "At what time was the meeting opened?", "16h00", "en"),
    ("pdfplumber__2023-06-20-PV.pdf", "Wer war die Sekretärin der Sitzung?", "Ariane Bélanger", "de"),
    ("camelot__failing_sort.pdf", "Wie lange dauert der Film Fack ju Göhte?", "239 min", None),
    ("camelot__failing_sort.pdf", "How many minutes does the first film of the week last?", "239 min", "en"),
    ("pdfjs__issue16538.pdf", "この講義ノートの主題は何ですか？", "経済学", None),
    ("pdfjs__issue16538.pdf", "What is the subject of this lecture note?", "economics", "en"),
    ("pdfplumber__scotus-transcript-p1.pdf", "Who argued on behalf of the petitioner?", "the counsel", None),
    ("pdfplumber__scotus-transcript-p1.pdf", "Wer hat für den Antragsteller argumentiert?", "der Anwalt", "de"),
    # Too short to tell: names and numbers are in no language, and nothing is decided on them.
    ("pdfplumber__2023-06-20-PV.pdf", "Who?", "Ariane Bélanger", None),
    ("pdfplumber__scotus-transcript-p1.pdf", "Nom ?", "Alexandre", None),
]


@pytest.mark.parametrize("name, question, answer, dropped_as", PAIRS)
def test_a_pair_in_another_language_than_its_document_is_dropped(windows, name, question, answer, dropped_as):
    document = "\n".join(windows[name].texts)
    verdict = language_consistency(QAPair(question, answer), document)
    assert (verdict and (verdict.reason, verdict.about)) == (dropped_as and ("language_mismatch", dropped_as))


def test_short_and_unclear_texts_have_no_language():
    assert detect_language("Annexe B Sondage Survey Monkey") == ""  # a page of shared/corpus lingua reads as Dutch
    assert detect_language("12 345,00 EUR 2021-05-03") == ""
    assert detect_language("The meeting was opened at four in the afternoon by the chair, who welcomed the members "
                           "and read the agenda, which was adopted without changes.") == "en"


def test_a_pair_read_off_the_pdfs_structure_is_not_language_checked():
    # The sample form's postal address, read as Swedish by its street name; the page is English.
    document = "Mooring application\nPostal address: Strandvägen 14, Eastmarch EM3 2PL\n" * 3
    pair = QAPair("What is the Postal address?", "Strandvägen 14, Eastmarch EM3 2PL", 1.0, origin="form")
    assert language_consistency(pair, document) is None
