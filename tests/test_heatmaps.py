"""heatmaps: a square's text is kept only where it fits its width."""

from locust_mtls.matrix.heatmaps import fitting_lines


def test_square_text_is_shortened_or_dropped_where_it_would_overflow():
    lines = ["wrong id 3%", "bleed 50%"]
    assert fitting_lines(lines, 230) == lines
    assert fitting_lines(["crash 2/2", "7 crashes, 5.6k req"], 100) == ["crash 2/2"]
    assert fitting_lines(lines, 70) == ["wrong"]
    assert fitting_lines(lines, 30) == []
