"""The weights format: save/load round trip, checksum and config mismatches name the file (case 26)."""

import dataclasses
import json

import numpy as np
import pytest

from vocals2song.errors import WeightsError
from vocals2song.model.networks import build_generator, seed_dropout
from vocals2song.model.weights import CONFIG_FILE, WEIGHTS_FILE, load_generator, save_generator


def copy_weights(source, destination):
    destination.mkdir()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        (destination / name).write_bytes((source / name).read_bytes())
    return destination


def test_round_trip_gives_the_same_network(tiny_model, tiny_weights_dir):
    loaded = load_generator(tiny_weights_dir)
    assert loaded.config == tiny_model.config
    voice = np.random.default_rng(0).uniform(-1, 1, (1, 512, 32, 2)).astype("float32")
    for network in (tiny_model.network, loaded.network):
        seed_dropout(network, 7)
    assert np.array_equal(np.asarray(tiny_model.network(voice)), np.asarray(loaded.network(voice)))


def test_config_records_checksum_and_front_end(tiny_weights_dir):
    record = json.loads((tiny_weights_dir / CONFIG_FILE).read_text())
    assert len(record["sha256"]) == 64
    assert record["model"]["spectrogram"]["n_fft"] == 1024
    assert record["model"]["spectrogram"]["sample_rate"] == 22050


def test_corrupt_weights_file_is_named(tmp_path, tiny_weights_dir):
    directory = copy_weights(tiny_weights_dir, tmp_path / "corrupt")
    weights = bytearray((directory / WEIGHTS_FILE).read_bytes())
    weights[len(weights) // 2] ^= 0xFF
    (directory / WEIGHTS_FILE).write_bytes(bytes(weights))
    with pytest.raises(WeightsError, match=f"{WEIGHTS_FILE}.*sha256"):
        load_generator(directory)


def test_weights_that_do_not_fit_the_config(tmp_path, tiny_model):
    directory = tmp_path / "mismatch"
    save_generator(directory, tiny_model.network, tiny_model.config)
    record = json.loads((directory / CONFIG_FILE).read_text())
    record["model"]["generator"]["width"] = 8  # the checksum still matches: only the shapes do not
    (directory / CONFIG_FILE).write_text(json.dumps(record))
    with pytest.raises(WeightsError, match="does not match the generator"):
        load_generator(directory)


def test_missing_config_says_no_trained_generator(tmp_path):
    with pytest.raises(WeightsError, match="No trained generator"):
        load_generator(tmp_path)


def test_invalid_config_names_the_file(tmp_path, tiny_weights_dir):
    directory = copy_weights(tiny_weights_dir, tmp_path / "invalid")
    (directory / CONFIG_FILE).write_text("{not json")
    with pytest.raises(WeightsError, match="config.json"):
        load_generator(directory)


def test_missing_weights_file_is_named(tmp_path, tiny_weights_dir):
    directory = copy_weights(tiny_weights_dir, tmp_path / "noweights")
    (directory / WEIGHTS_FILE).unlink()
    with pytest.raises(WeightsError, match="missing"):
        load_generator(directory)


def test_slim_and_original_configs_differ_only_in_width(tiny_model):
    wider = dataclasses.replace(tiny_model.config.generator, width=8)
    assert build_generator(wider).count_params() > tiny_model.network.count_params()


def test_configs_written_before_channels_were_apart_still_load():
    from vocals2song.config import ModelConfig

    old = ModelConfig().to_dict()
    generator = old["generator"]
    del generator["input_channels"], generator["output_channels"]
    generator["channels"] = 2
    old.pop("phase_representation")
    config = ModelConfig.from_dict(old)
    assert (config.generator.input_channels, config.generator.output_channels) == (2, 2)
    assert config.phase_representation == "raw" and not config.uses_plan


def test_magnitude_only_needs_one_output_channel():
    from vocals2song.config import GeneratorConfig, ModelConfig

    with pytest.raises(ValueError, match="'none'"):
        ModelConfig(phase_representation="none")
    config = ModelConfig(generator=GeneratorConfig(output_channels=1), phase_representation="none")
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_styles_round_trip_through_config_json_and_are_checked(tmp_path):
    from vocals2song.config import GeneratorConfig, tiny_config
    from vocals2song.model.weights import REPOSITORY_WEIGHTS, read_config

    plan_generator = GeneratorConfig(width=4, depth=4, input_channels=3)
    styled = tiny_config(generator=plan_generator, styles=("pop", "jazz"))
    save_generator(tmp_path, build_generator(styled.generator), styled)
    assert json.loads((tmp_path / CONFIG_FILE).read_text())["model"]["styles"] == ["pop", "jazz"]
    assert read_config(tmp_path)[0] == styled and read_config(tmp_path)[0].styles == ("pop", "jazz")
    assert read_config(REPOSITORY_WEIGHTS)[0].styles == ()  # the packaged config.json has no "styles": no style
    for styles, message in ((("pop", "polka"), "names from"), (("pop", "pop"), "once"), (["pop"], "tuple")):
        with pytest.raises(ValueError, match=message):
            tiny_config(generator=plan_generator, styles=styles)
    with pytest.raises(ValueError, match="input_channels 3"):
        tiny_config(styles=("pop",))
