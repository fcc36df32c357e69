/* call.c: helpers shared by the route handlers: the body's media type and JSON answers.
 * Knows nothing of any particular route. */
#include "api/call.h"

#include <string.h>
#include <strings.h>

#include "api/name.h"

bool hbn_call_media_type_is(const char *ct, const char *type)
{
    size_t len, tlen = strlen(type);

    if (ct == NULL)
        return false;
    ct += strspn(ct, " \t");
    len = strcspn(ct, ";");
    while (len > 0 && (ct[len - 1] == ' ' || ct[len - 1] == '\t'))
        len--;
    return len == tlen && strncasecmp(ct, type, tlen) == 0;
}

hbn_status hbn_call_require_media(const hbn_call *call, const char *type, const char *what,
                                  hbn_err *err)
{
    const char *ct = call->req->content_type;
    char shown[64];

    if (ct == NULL || hbn_call_media_type_is(ct, type))
        return HBN_OK;
    hbn_name_excerpt(ct, strlen(ct), shown, sizeof shown);
    return hbn_err_set(err, HBN_E_UNSUPPORTED_MEDIA_TYPE, "Content-Type must be %s%s, got '%s'",
                       type, what, shown);
}

hbn_status hbn_call_require_json(const hbn_call *call, hbn_err *err)
{
    return hbn_call_require_media(call, "application/json", "", err);
}

hbn_status hbn_call_printed(const hbn_strbuf *sb, hbn_err *err)
{
    if (sb->failed)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory while writing the response");
    return HBN_OK;
}

hbn_status hbn_call_respond(hbn_call *call, int http, hbn_strbuf *sb, hbn_err *err)
{
    size_t len;
    char *body;

    if (hbn_call_printed(sb, err) != HBN_OK)
        return err->status;
    body = hbn_strbuf_take(sb, &len);
    if (body == NULL)
        return hbn_err_set(err, HBN_E_NO_MEMORY, "out of memory while writing the response");
    hbn_response_set_body(call->res, http, "application/json", body, len);
    return HBN_OK;
}

typedef struct answer_read {
    hbn_call_print_fn fn;
    void *arg;
    hbn_strbuf *sb;
} answer_read;

static hbn_status answer_read_layer(const hbn_layer *layer, void *arg, hbn_err *err)
{
    answer_read *a = arg;

    return a->fn(layer, a->sb, a->arg, err);
}

hbn_status hbn_call_answer_layer(hbn_call *call, hbn_call_print_fn fn, void *arg, hbn_err *err)
{
    const hbn_store *store = &call->api->store;
    hbn_strbuf sb;
    answer_read a = {fn, arg, &sb};
    hbn_status st;

    hbn_strbuf_init(&sb);
    st = store->ops->read(store->ctx, call->name, answer_read_layer, &a, err);
    if (st == HBN_OK)
        st = hbn_call_respond(call, 200, &sb, err);
    hbn_strbuf_clear(&sb);
    return st;
}

bool hbn_call_body_empty(const hbn_call *call)
{
    size_t i;

    for (i = 0; i < call->req->body_len; i++) {
        uint8_t c = call->req->body[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return false;
    }
    return true;
}

hbn_status hbn_call_deferred(const hbn_err *body, hbn_err *err)
{
    if (body->status != HBN_OK)
        *err = *body;
    return body->status;
}

const float *hbn_call_floats(const hbn_tensor *t)
{
    static const float none[1] = {0.0f};

    return t->data != NULL ? t->data : none;
}
