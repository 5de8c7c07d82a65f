"""The embedded default world: HvM-style object stimuli, a video stream, and simulated V1/V4/IT
recordings and 2AFC behaviour, all generated offline (NumPy only, no downloads).

    from vvs_tf.data import world
    split = world.load_embedded(num_images=2560, image_size=64)       # training source
    meta = world.sample_metadata(640); images = world.render(meta, 64)
    assemblies = world.simulate_recordings(images, meta)              # {"V1", "V4", "IT"}
    world.write_world("world_dir")                                    # the BrainIO-style directory
"""
from vvs_tf.data.world.behaviour import simulate_behaviour
from vvs_tf.data.world.embedded import EmbeddedSplit, load_embedded
from vvs_tf.data.world.metadata import METADATA_KEYS, VARIATION_RANGES, sample_metadata
from vvs_tf.data.world.recordings import AREAS, expected_consistency, simulate_recordings
from vvs_tf.data.world.renderer import BACKGROUND_DEPTH, CAMERA_DISTANCE, render, render_scenes
from vvs_tf.data.world.shapes import CATEGORIES, OBJECT_CATEGORY, OBJECTS, category_indices, object_indices
from vvs_tf.data.world.video import write_video_stream
from vvs_tf.data.world.writer import write_world

__all__ = [
    "AREAS", "BACKGROUND_DEPTH", "CAMERA_DISTANCE", "CATEGORIES", "METADATA_KEYS", "OBJECTS", "OBJECT_CATEGORY",
    "VARIATION_RANGES", "EmbeddedSplit", "category_indices", "expected_consistency", "load_embedded",
    "object_indices", "render", "render_scenes", "sample_metadata", "simulate_behaviour", "simulate_recordings",
    "write_video_stream", "write_world",
]
