import numpy as np
import pytest

import datasampler
from tests.helpers import options
from utilities.errors import ConfigError

LABELS = np.repeat(np.arange(10), [5, 5, 5, 5, 5, 5, 5, 5, 5, 1])  # class 9 has one image


def batches(name, *flags, epoch=0, labels=LABELS):
    sampler = datasampler.select(name, options(*flags), labels)
    sampler.set_epoch(epoch)
    return sampler, list(sampler)


def test_class_random_batches_are_class_balanced():
    sampler, drawn = batches("class_random", "--bs", "8", "--samples_per_class", "2")
    assert len(drawn) == len(sampler) == len(LABELS) // 8
    for batch in drawn:
        classes, counts = np.unique(LABELS[batch], return_counts=True)
        assert len(classes) == 4 and (counts == 2).all()
    # A class with one image repeats it rather than borrowing another class's image.
    sampler, drawn = batches("class_random", "--bs", "20", "--samples_per_class", "2")
    assert all(np.unique(LABELS[b], return_counts=True)[1].tolist() == [2] * 10 for b in drawn)


@pytest.mark.parametrize("name", ["class_random", "random", "full_random"])
def test_batches_depend_only_on_seed_and_epoch(name):
    _, first = batches(name, "--bs", "8")
    _, again = batches(name, "--bs", "8")
    _, other_epoch = batches(name, "--bs", "8", epoch=1)
    _, other_seed = batches(name, "--bs", "8", "--seed", "1")
    assert first == again
    assert first != other_epoch and first != other_seed


def test_random_sampler_is_a_permutation():
    sampler, drawn = batches("random", "--bs", "9")
    flat = [i for b in drawn for i in b]
    assert len(flat) == len(set(flat)) == len(sampler) * 9


def test_sampler_state_round_trip():
    sampler, _ = batches("random", "--bs", "8", epoch=3)
    fresh = datasampler.select("random", options("--bs", "8"), LABELS)
    fresh.load_state_dict(sampler.state_dict())
    assert list(fresh) == list(sampler)


def test_bad_batch_settings_are_refused():
    with pytest.raises(ConfigError, match="multiple of --samples_per_class"):
        datasampler.select("class_random", options("--bs", "9", "--samples_per_class", "2"), LABELS)
    with pytest.raises(ConfigError, match="needs 12 classes.*only 10"):
        datasampler.select("class_random", options("--bs", "24", "--samples_per_class", "2"), LABELS)
    with pytest.raises(ConfigError, match="Unknown data sampler 'nope'.*class_random"):
        datasampler.select("nope", options(), LABELS)
