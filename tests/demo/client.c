/* A small HMI client built only from the shipped interface files (dbus/org.evcc.Evcc1.*.xml) through
 * gdbus-codegen: reads Session.State and Manager.Version, lists the contracts through ObjectManager, reverses their
 * priority order with SetPriorities, calls SelectContract with a stale path (expects
 * org.evcc.Evcc1.Error.UnknownContract) and waits for StateChanged signals.
 * Usage: client BUS_ADDRESS CHANGES TIMEOUT_S. One line per fact on stdout; exit 0 when all happened. */
#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evcc-generated.h"

typedef struct {
    gchar *path;
    gchar *emaid;
    gint priority;
} Item;

static int changes_wanted, changes_seen;
static GMainLoop *loop;

static gint by_priority(gconstpointer a, gconstpointer b) {
    return ((const Item *)b)->priority - ((const Item *)a)->priority;
}

static void on_state_changed(EvccSession *session, guint old_state, guint new_state, const gchar *reason,
                             gpointer user_data) {
    (void)session;
    (void)user_data;
    printf("state_changed %u %u %s\n", old_state, new_state, reason);
    fflush(stdout);
    if (++changes_seen >= changes_wanted)
        g_main_loop_quit(loop);
}

static gboolean on_timeout(gpointer user_data) {
    (void)user_data;
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

static int fail(const char *what, GError *error) {
    printf("error %s: %s\n", what, error ? error->message : "?");
    return 1;
}

int main(int argc, char **argv) {
    GError *error = NULL;
    if (argc != 4) {
        fprintf(stderr, "usage: %s BUS_ADDRESS CHANGES TIMEOUT_S\n", argv[0]);
        return 2;
    }
    changes_wanted = atoi(argv[2]);
    GDBusConnection *bus = g_dbus_connection_new_for_address_sync(
        argv[1], G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
        NULL, NULL, &error);
    if (!bus)
        return fail("connect", error);

    EvccSession *session = evcc_session_proxy_new_sync(bus, G_DBUS_PROXY_FLAGS_NONE, "org.evcc.Evcc1",
                                                       "/org/evcc/Evcc1/Session", NULL, &error);
    if (!session)
        return fail("session proxy", error);
    EvccManager *manager = evcc_manager_proxy_new_sync(bus, G_DBUS_PROXY_FLAGS_NONE, "org.evcc.Evcc1",
                                                       "/org/evcc/Evcc1", NULL, &error);
    if (!manager)
        return fail("manager proxy", error);
    printf("version %u\n", evcc_manager_get_version(manager));
    printf("state %u\n", evcc_session_get_state(session));

    GDBusObjectManager *objects = evcc_object_manager_client_new_sync(
        bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE, "org.evcc.Evcc1", "/org/evcc/Evcc1", NULL, &error);
    if (!objects)
        return fail("object manager", error);
    GList *items = NULL;
    GList *list = g_dbus_object_manager_get_objects(objects);
    for (GList *l = list; l; l = l->next) {
        EvccContract *contract = evcc_object_get_contract(EVCC_OBJECT(l->data));
        if (!contract)
            continue;
        Item *item = g_new0(Item, 1);
        item->path = g_strdup(g_dbus_object_get_object_path(G_DBUS_OBJECT(l->data)));
        item->emaid = g_strdup(evcc_contract_get_emaid(contract));
        item->priority = evcc_contract_get_priority(contract);
        items = g_list_insert_sorted(items, item, by_priority);
        g_object_unref(contract);
    }
    g_list_free_full(list, g_object_unref);
    guint n = g_list_length(items);
    const gchar **reversed = g_new0(const gchar *, n + 1);
    guint i = n;
    for (GList *l = items; l; l = l->next) {
        Item *item = l->data;
        printf("contract %s %s %d\n", item->path, item->emaid, item->priority);
        reversed[--i] = item->path;
    }
    if (!evcc_manager_call_set_priorities_sync(manager, reversed, NULL, &error))
        return fail("SetPriorities", error);
    printf("set_priorities");
    for (i = 0; i < n; i++)
        printf(" %s", reversed[i]);
    printf("\n");

    if (evcc_manager_call_select_contract_sync(manager, "/org/evcc/Evcc1/contract/stale", NULL, &error)) {
        printf("stale_error none\n");
    } else {
        gchar *remote = g_dbus_error_get_remote_error(error);
        printf("stale_error %s\n", remote ? remote : "?");
        g_free(remote);
        g_clear_error(&error);
    }
    fflush(stdout);

    loop = g_main_loop_new(NULL, FALSE);
    g_signal_connect(session, "state-changed", G_CALLBACK(on_state_changed), NULL);
    g_timeout_add_seconds((guint)atoi(argv[3]), on_timeout, NULL);
    g_main_loop_run(loop);
    printf("done %d\n", changes_seen);
    return changes_seen >= changes_wanted ? 0 : 1;
}
