from components.report.sentiment import pretraining_sentence


def test_the_report_tells_what_the_pretrained_encoder_learned_and_nothing_when_off():
    pretraining = {
        "tokens": 5_000_000,
        "seconds": 619.2,
        "held_out_perplexity": {"forward": 319.6, "backward": 315.2},
        "held_out_perplexity_at_start": {"forward": 20000.0, "backward": 20001.0},
    }
    sentence = pretraining_sentence(pretraining)
    assert "5,000,000 tokens per direction in 619 s" in sentence
    assert "forward 319.6 (at start 20,000.0), backward 315.2 (at start 20,001.0)" in sentence
    assert pretraining_sentence({"tokens": 0}) == pretraining_sentence({}) == ""
