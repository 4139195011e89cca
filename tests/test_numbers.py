"""Whole numbers from requests: ASCII digits only, so "³" is refused, not a 500."""
import pytest
from conftest import API_TOKEN

from webapp.core.numbers import is_whole_number, whole_number


@pytest.mark.parametrize("text", ["0", "7", "1234567890123456789"])
def test_ascii_digits_are_whole_numbers(text):
    assert is_whole_number(text) and whole_number(text) == int(text)


@pytest.mark.parametrize("text", ["", "³", "٣", "1²", "-1", "1.0", " ", "12345678901234567890", "0x1"])
def test_anything_else_is_not(text):
    assert not is_whole_number(text) and whole_number(text) is None


def test_a_digit_limit_is_kept():
    assert whole_number("123", max_digits=2) is None and whole_number(" 12 ", max_digits=2) == 12


def test_a_superscript_job_id_is_a_404_not_a_500(client):
    answer = client.patch("/api/v1/scheduler/jobs/%C2%B3", json={"enabled": False},
                          headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert answer.status_code == 404 and answer.get_json()["error_code"]


def test_a_superscript_page_of_the_history_is_the_first(admin_client):
    assert admin_client.get("/history?page=%C2%B3").status_code == 200
