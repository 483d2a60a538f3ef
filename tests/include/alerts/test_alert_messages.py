"""Alert messages: every field named, data escaped for each medium, never re-templated."""

from __future__ import annotations

import email
import json
from datetime import date

from alerts_fixtures import Seed, SmtpServer
from test_alert_runs import AS_OF, run

from partnerops.alerts.messages import alert_payload, encode_header, render_email, render_webhook
from partnerops.alerts.rules import RULES, BurnRate, window_rule
from partnerops.alerts.status import AgreementContacts, Contact, StatusRow

EVIL = 'Evil "Brand" <script>alert(1)</script>\r\nBcc: victim@example.com {{ 7 * 7 }} 品牌'
ROW = StatusRow(agreement_id="TM-1", commitment_id="C9", instance_key="term", as_of_date=date(2026, 6, 20),
                status="at_risk", kind="deliverable", pillar="marketing", obligor="brand",
                commitment_title="Launch <b>SS27</b>", due_date=date(2026, 6, 30), weight=2,
                evidence_found="none (attestation expected)")
CONTACTS = AgreementContacts("TM-1", "Strategic", EVIL, "Group & Co", Contact("Ann", "am@example.com"))


def payload(rule: str = "at_risk") -> dict:
    burn = BurnRate(1.5, 0.5, "1 of 2 windows missed") if rule == "burn_rate" else None
    return alert_payload(ROW, CONTACTS, rule=rule, burn=burn)


def test_every_message_names_what_it_is_about_and_what_to_do():
    for rule in (*RULES, window_rule(0.5), window_rule(0.75)):
        msg = render_email(payload(rule))
        for text in (msg.text, msg.html):
            for needle in ("TM-1", "C9", "brand", "2026-06-30", "at_risk", "none (attestation expected)"):
                assert needle in text, (rule, needle)
            assert "Launch" in text and "Evil" in text
        assert "What to do next" in msg.text and "What to do next" in msg.html
        hook = json.dumps(render_webhook(payload(rule)))
        assert "TM-1" in hook and "What to do next" in hook


def test_html_escapes_the_data():
    html = render_email(payload()).html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>SS27</b>" not in html and "&lt;b&gt;SS27&lt;/b&gt;" in html
    assert "Group &amp; Co" in html


def test_webhook_payload_is_valid_json_that_round_trips_the_data():
    hook = render_webhook(payload())
    assert EVIL in hook["text"]
    assert hook["partnerops"]["instance_key"] == "term"


def test_subject_is_one_header_line_and_never_a_template():
    msg = render_email(payload())
    assert "\n" not in msg.subject and "\r" not in msg.subject
    assert "{{ 7 * 7 }}" in msg.subject and "49" not in msg.subject
    header = encode_header(msg.subject)
    assert header.isascii() and "\n" not in header.replace("\n ", "")  # only folding whitespace


def test_a_hostile_brand_name_arrives_intact_over_real_smtp(seed: Seed, smtp_server: SmtpServer):
    seed.agreement(brand_name=EVIL)
    seed.status(AS_OF, "at_risk")
    run(seed.url, smtp_url=smtp_server.url)
    [(rcpts, msg)] = smtp_server.messages
    assert rcpts == ["am@example.com"] and msg["Bcc"] is None  # no header injection
    subject = str(email.header.make_header(email.header.decode_header(msg["Subject"])))
    assert "Evil \"Brand\" <script>alert(1)</script> Bcc: victim@example.com {{ 7 * 7 }} 品牌" in subject
    assert msg.get_content_type() == "multipart/alternative"
    text, html = (p.get_payload(decode=True).decode() for p in msg.get_payload())
    assert "{{ 7 * 7 }}" in text and "品牌" in text
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_payload_fields_are_all_listed_and_old_payloads_still_render():
    from partnerops.alerts.messages import PAYLOAD_FIELDS

    assert set(payload()) | {"recipients"} == set(PAYLOAD_FIELDS)
    old = {k: v for k, v in payload("breached").items() if k != "remedy"}  # stored before `remedy` existed
    assert "is breached" in render_email(old).text


def test_the_remedy_is_shown_when_the_agreement_names_one():
    from dataclasses import replace

    with_remedy = alert_payload(replace(ROW, remedy="Extra launch slot <free>"), CONTACTS, rule="breached")
    msg = render_email(with_remedy)
    assert "Remedy:         Extra launch slot <free>" in msg.text and "Extra launch slot &lt;free&gt;" in msg.html
