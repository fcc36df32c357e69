/* layer_json.c: printing the layer object (API.md "Layer object") from core's getters. Field
 * order is the contract's; options are printed as the shortest decimal that reads back to the
 * stored double, so 0.1 prints as 0.1. */
#include "api/layer_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

void hbn_layer_json_double(hbn_strbuf *sb, double v)
{
    char text[40];
    int digits;

    for (digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v)
            break;
    }
    hbn_strbuf_puts(sb, text);
}

static void print_bool(hbn_strbuf *sb, const char *key, bool v)
{
    hbn_strbuf_printf(sb, ",\"%s\":%s", key, v ? "true" : "false");
}

/* Appends COUNT shapes [C] as [[C],[C],...]. */
static void print_shapes(hbn_strbuf *sb, int count, int64_t c)
{
    int i;

    hbn_strbuf_puts(sb, "[");
    for (i = 0; i < count; i++)
        hbn_strbuf_printf(sb, "%s[%" PRId64 "]", i > 0 ? "," : "", c);
    hbn_strbuf_puts(sb, "]");
}

void hbn_layer_json_print(hbn_strbuf *sb, const hbn_layer *layer)
{
    const hbn_config *cfg = hbn_layer_config(layer);
    int64_t c = hbn_layer_num_features(layer);

    hbn_strbuf_puts(sb, "{\"name\":");
    hbn_strbuf_json_string(sb, hbn_layer_name(layer));
    hbn_strbuf_printf(sb, ",\"num_features\":%" PRId64 ",\"momentum\":", c);
    if (cfg->has_momentum)
        hbn_layer_json_double(sb, cfg->momentum);
    else
        hbn_strbuf_puts(sb, "null");
    hbn_strbuf_puts(sb, ",\"eps\":");
    hbn_layer_json_double(sb, cfg->eps);
    print_bool(sb, "affine", cfg->affine);
    print_bool(sb, "track_running_stats", cfg->track_running_stats);
    print_bool(sb, "frozen_stats", cfg->frozen_stats);
    print_bool(sb, "learnable_stats", cfg->learnable_stats);
    hbn_strbuf_printf(sb, ",\"mode\":\"%s\",\"num_stats\":%" PRId64 ",\"param_shapes\":",
                      hbn_mode_name(hbn_layer_mode(layer)), hbn_layer_num_stats(layer));
    print_shapes(sb, hbn_layer_param_shape_count(layer), c);
    hbn_strbuf_puts(sb, ",\"hyper_shapes\":");
    if (hbn_layer_has_hyper_shapes(layer))
        print_shapes(sb, 2, c);
    else
        hbn_strbuf_puts(sb, "null");
    hbn_strbuf_puts(sb, "}");
}
