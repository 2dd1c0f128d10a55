"""shapekit.io: read SEM micrographs, remove info bars, fix the physical scale, tile, and manifests.

The public API (everything else is internal)::

    read_image, ImageMeta                           # readers: TIFF/PNG/JPEG/BMP -> float32 grey [0, 1]
    image_digests                                   # the one test of "the same image", pixel for pixel
    sniff_format                                    # 'tiff'/'png'/'jpeg'/'bmp' from a file's first bytes
    check_pixel_budget, pixel_budget, DEFAULT_MAX_PIXELS  # one budget for every derived allocation
    load_json, check_json                           # JSON files read against a schema
    detect_info_bar, crop_info_bar                  # instrument info band at the bottom
    resample, tiff_pixel_size                       # um/px from metadata, anti-aliased resampling
    read_scale_bar, ScaleBarReading                 # um/px from the scale bar drawn in the info bar
    load_scan, Scan, check_usable, MIN_SIDE         # the whole ingestion pipeline
    tile_image, iter_tiles, stitch_tiles, tile_origins, Tiles
    write_tiff                                      # atomic float32 TIFF with JSON metadata
    load_manifest, Manifest, open_image_set, write_manifest, validate_spec
"""

from __future__ import annotations

from shapekit.io._headers import header_shape, sniff_format
from shapekit.io.budget import DEFAULT_MAX_PIXELS, check_pixel_budget, pixel_budget
from shapekit.io.infobar import crop_info_bar, detect_info_bar
from shapekit.io.jsonfile import check_json, load_json
from shapekit.io.manifest import Manifest, load_manifest, open_image_set, validate_spec, write_manifest
from shapekit.io.readers import IMAGE_SUFFIXES, ImageMeta, image_digests, read_image
from shapekit.io.scale import resample, tiff_pixel_size
from shapekit.io.scalebar import ScaleBarReading, read_scale_bar
from shapekit.io.scan import MIN_SIDE, Scan, check_usable, load_scan
from shapekit.io.tiles import Tiles, iter_tiles, stitch_tiles, tile_image, tile_origins
from shapekit.io.write import write_tiff

__all__ = [
    "DEFAULT_MAX_PIXELS", "IMAGE_SUFFIXES", "MIN_SIDE", "ImageMeta", "Manifest", "Scan",
    "ScaleBarReading", "Tiles", "check_json", "check_pixel_budget", "check_usable",
    "crop_info_bar", "detect_info_bar", "header_shape", "image_digests", "iter_tiles", "load_json",
    "load_manifest", "load_scan", "open_image_set", "pixel_budget", "read_image",
    "read_scale_bar", "resample", "sniff_format", "stitch_tiles", "tiff_pixel_size",
    "tile_image", "tile_origins", "validate_spec", "write_manifest", "write_tiff",
]
