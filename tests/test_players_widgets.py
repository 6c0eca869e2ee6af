"""Players (kernel-free HTML animations) and widgets (live explorers) build, show every frame and redraw."""

import re
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from rssm.players import frames_player, rollout_player
from rssm.style import mask_edges
from rssm.widgets import explore_moving_dot, explore_rollout, rollouts_for_context

EMBEDDED_FRAME = re.compile(r'frames\[\d+\] = "data:image/png;base64,')


def embedded_frames(html: str) -> int:
    """How many PNG frames matplotlib's to_jshtml embedded in a player."""
    return len(EMBEDDED_FRAME.findall(html))


# ----- players ---------------------------------------------------------------------------------


def test_frames_player_embeds_one_image_per_frame(small_batch):
    obs = small_batch["obs"][0, :6]  # (T, 1, H, W)
    html = frames_player({"truth": obs, "also truth": obs.clone()}, fps=5)
    assert isinstance(html, str)
    assert embedded_frames(html) == obs.shape[0]
    assert "<script" in html


def test_frames_player_takes_a_list_with_titles_labels_and_overlays(small_batch):
    obs = small_batch["obs"][0, :4]
    html = frames_player(
        [obs, obs[:, 0].numpy()],  # (T, 1, H, W) tensor and (T, H, W) array
        titles=["observation", "same"],
        start_index=3,
        frame_labels=["a", "b", "c", "d"],
        outline=small_batch["occluder_mask"][0],
        markers=small_batch["states"][0, :4, :2],
    )
    assert embedded_frames(html) == 4


def test_frames_player_rejects_rows_of_different_lengths(small_batch):
    obs = small_batch["obs"][0]
    with pytest.raises(ValueError, match="same number of frames"):
        frames_player({"truth": obs, "prediction": obs[1:]})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"titles": ["one", "two"]}, "titles"),
        ({"frame_labels": ["x"]}, "frame_labels"),
        ({"error_rows": ["missing"]}, "error_rows"),
        ({"markers": torch.zeros(2, 2)}, "markers"),
        ({"start_index": -1}, "start_index"),
    ],
)
def test_frames_player_rejects_inconsistent_arguments(small_batch, kwargs, message):
    with pytest.raises(ValueError, match=message):
        frames_player([small_batch["obs"][0, :3]], **kwargs)


def test_frames_player_rejects_frames_that_are_not_images():
    with pytest.raises(ValueError, match="expected frames"):
        frames_player({"bad": torch.zeros(3, 2, 8, 8)})


def test_player_leaves_no_open_figure(small_batch):
    before = plt.get_fignums()
    frames_player([small_batch["obs"][0, :2]])
    assert plt.get_fignums() == before


def test_rollout_player_shows_context_and_open_loop_frames(small_batch):
    obs = small_batch["obs"][0, :6]  # (T, 1, H, W)
    K = 2
    html = rollout_player(obs, obs[K:].flip(0), K)
    assert embedded_frames(html) == obs.shape[0]


def test_rollout_player_rejects_a_prediction_of_the_wrong_length(small_batch):
    obs = small_batch["obs"][0]
    with pytest.raises(ValueError, match="T-K"):
        rollout_player(obs, obs[3:], K=4)
    with pytest.raises(ValueError, match="K="):
        rollout_player(obs, obs[0:0], K=obs.shape[0])


def test_mask_outline_has_one_segment_per_pixel_side():
    mask = np.zeros((5, 5), dtype=bool)
    mask[1:3, 2:4] = True  # a 2 x 2 square: 8 outer pixel sides
    assert len(mask_edges(mask)) == 8
    assert mask_edges(np.zeros((4, 4), dtype=bool)) == []


# ----- widgets ---------------------------------------------------------------------------------
# Outside a kernel the explorers' Output captures nothing, so what a redraw displays goes to stdout.


def controls(box) -> list:
    """The sliders and checkboxes of an explorer, in order."""
    return [w for row in box.children[:-1] for w in row.children]


def test_explore_moving_dot_redraws_when_t_changes(small_data_config, capsys):
    import ipywidgets

    box = explore_moving_dot(small_data_config, seed=0, num_sequences=3)
    assert isinstance(box, ipywidgets.VBox) and isinstance(box.children[-1], ipywidgets.Output)
    t_slider, sequence_slider, occlusion = controls(box)
    assert (t_slider.max, sequence_slider.max, occlusion.value) == (small_data_config.seq_len - 1, 2, True)
    assert "frame t = 0 " in capsys.readouterr().out
    t_slider.value = 5
    shown = capsys.readouterr().out
    assert "frame t = 5 " in shown and "a_5 = " in shown and "to frame 6" in shown
    t_slider.value = small_data_config.seq_len - 1
    assert "past the last frame" in capsys.readouterr().out


def test_explore_moving_dot_occlusion_checkbox_regenerates_the_world(small_data_config, capsys):
    from rssm.dataset import generate_moving_dot_sequences

    data = generate_moving_dot_sequences(small_data_config, 8, seed=0)
    sequence, t = [int(i) for i in (~data["visible"]).nonzero()[0]]  # a frame where the dot is hidden
    box = explore_moving_dot(small_data_config, seed=0, num_sequences=8)
    t_slider, sequence_slider, occlusion = controls(box)
    sequence_slider.value, t_slider.value = sequence, t
    assert "HIDDEN" in capsys.readouterr().out
    occlusion.value = False
    assert "visible" in capsys.readouterr().out


def test_explore_rollout_redraws_for_each_slider(small_model, small_batch, capsys):
    box = explore_rollout(small_model, small_batch, max_K=4, num_samples=2)
    t_slider, k_slider, sample_slider, sequence_slider = controls(box)
    assert (k_slider.max, sample_slider.max, sequence_slider.max) == (4, 2, 2)
    capsys.readouterr()
    t_slider.value = 1
    assert "context frame" in capsys.readouterr().out
    t_slider.value = 6
    assert "open loop, 3 step(s)" in capsys.readouterr().out  # K starts at min(8, max_K) = 4
    k_slider.value = 2
    assert "open loop, 5 step(s)" in capsys.readouterr().out
    sample_slider.value, sequence_slider.value = 2, 1
    assert "open loop" in capsys.readouterr().out


def test_rollouts_for_context_put_the_prior_mean_first(small_model, small_batch):
    obs, actions = small_batch["obs"], small_batch["actions"]
    B, T = obs.shape[:2]
    K, S = 3, 2
    rollouts = rollouts_for_context(small_model, small_batch, K, num_samples=S)
    assert rollouts.shape == (1 + S, B, T - K, *obs.shape[2:])
    with torch.no_grad():
        mean = small_model.open_loop_rollout(obs[:, :K], actions[:, :K], actions[:, K:], K)
    torch.testing.assert_close(rollouts[0], mean)
    torch.testing.assert_close(rollouts_for_context(small_model, small_batch, K, num_samples=S), rollouts)


def test_explore_rollout_rejects_a_context_longer_than_the_sequence(small_model, small_batch):
    with pytest.raises(ValueError, match="max_K"):
        explore_rollout(small_model, small_batch, max_K=small_batch["obs"].shape[1])


def test_explorers_say_how_to_install_ipywidgets(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # makes `import ipywidgets` fail
    with pytest.raises(ImportError, match="pip install ipywidgets"):
        explore_moving_dot()


def test_the_report_the_player_and_the_explorer_draw_the_same_panels(small_batch, monkeypatch):
    """The truth / prediction / error view is computed once (rollout_panels) and drawn three ways."""
    import matplotlib.pyplot as plt

    import rssm.players
    from rssm.figures import plot_open_loop_report, rollout_panels
    from rssm.widgets import draw_rollout

    obs, K = small_batch["obs"][0], 4
    pred = obs[K:].flip(0) * 1.5  # wrong, and too bright: the clipping shows
    panels = rollout_panels(obs, pred, K)
    rows = list(panels.as_rows().values())

    fig = plot_open_loop_report(obs[None], pred[None], K)
    drawn = [image.get_array() for ax in fig.axes for image in ax.get_images()]
    plt.close(fig)
    expected = [row[t] for row in rows for t in range(obs.shape[0]) if not np.isnan(row[t]).all()]
    assert len(drawn) == len(expected)
    assert all(any(np.array_equal(a, b) for b in expected) for a in drawn)

    t = K + 2
    fig, _ = draw_rollout(obs, pred, K, t)
    for ax, row in zip(fig.axes, rows):
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), row[t])
    plt.close(fig)

    captured = {}
    monkeypatch.setattr(rssm.players, "frames_player", lambda rows, **kwargs: captured.update(rows=rows, **kwargs) or "")
    rollout_player(obs, pred, K)
    for got, want in zip(captured["rows"].values(), rows):
        np.testing.assert_array_equal(got, want)
    assert captured["frame_labels"] == panels.labels


def test_a_player_loads_nothing_remote_fits_the_column_and_carries_its_caption(small_batch):
    html = frames_player({"truth": small_batch["obs"][0]}, caption="the true frames, one per step")
    assert "https://" not in html and "http://" not in html  # no CDN icon font: it works offline
    assert "max-width: 100%" in html
    assert "<figcaption>the true frames, one per step</figcaption>" in html


def test_a_player_s_frame_image_has_alt_text_naming_its_panels(small_batch):
    frames = small_batch["obs"][0]
    html = frames_player({"truth": frames, "model": frames}, title="sequence 3")
    T = frames.shape[0]
    assert f'<img alt="sequence 3: truth, model, frame by frame ({T} frames)" id="_anim_img' in html
