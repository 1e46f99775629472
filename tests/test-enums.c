/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <gio/gio.h>

#include "plexus.h"

static void
test_modes (void)
{
  g_autoptr(GError) error = NULL;
  PlexusMode mode;

  for (PlexusMode m = PLEXUS_MODE_HYBRID; m <= PLEXUS_MODE_TRADITIONAL; m++) {
    g_assert_true (plexus_mode_from_string (plexus_mode_to_string (m), &mode, &error));
    g_assert_no_error (error);
    g_assert_cmpint (mode, ==, m);
  }
  g_assert_false (plexus_mode_from_string ("Hybrid", &mode, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "'Hybrid'"));
}

static void
test_roles (void)
{
  g_autoptr(GError) error = NULL;
  const gchar *in[] = { "server", "standard", "super", "server", NULL };
  const gchar *bad[] = { "standard", "admin", NULL };
  g_auto(GStrv) out = NULL;
  PlexusRole roles;

  g_assert_true (plexus_roles_from_strv (in, &roles, &error));
  g_assert_no_error (error);
  g_assert_cmpint (roles, ==, PLEXUS_ROLE_STANDARD | PLEXUS_ROLE_SUPER | PLEXUS_ROLE_SERVER);
  out = plexus_roles_to_strv (roles);
  /* canonical order, no repeats */
  g_assert_cmpuint (g_strv_length (out), ==, 3);
  g_assert_cmpstr (out[0], ==, "standard");
  g_assert_cmpstr (out[1], ==, "super");
  g_assert_cmpstr (out[2], ==, "server");
  g_assert_null (plexus_role_to_string (PLEXUS_ROLE_STANDARD | PLEXUS_ROLE_SUPER));

  g_assert_false (plexus_roles_from_strv (bad, &roles, &error));
  g_assert_error (error, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "'admin'"));
}

static void
test_enum_types (void)
{
  g_autoptr(GEnumClass) modes = g_type_class_ref (PLEXUS_TYPE_MODE);
  g_autoptr(GFlagsClass) roles = g_type_class_ref (PLEXUS_TYPE_ROLE);

  /* GType nicks match the strings used everywhere else */
  g_assert_cmpstr (g_enum_get_value (modes, PLEXUS_MODE_TRADITIONAL)->value_nick, ==, "traditional");
  g_assert_cmpstr (g_flags_get_first_value (roles, PLEXUS_ROLE_BOOTSTRAP)->value_nick, ==, "bootstrap");
}

static void
test_dbus_error_names (void)
{
  g_autoptr(GError) error = g_error_new_literal (PLEXUS_ERROR, PLEXUS_ERROR_UNKNOWN_SERVICE, "x");
  g_autofree gchar *name = g_dbus_error_encode_gerror (error);
  g_autoptr(GError) back = g_dbus_error_new_for_dbus_error ("org.plexus.Plexus1.Error.InvalidConfig", "y");

  g_assert_cmpstr (name, ==, "org.plexus.Plexus1.Error.UnknownService");
  g_assert_error (back, PLEXUS_ERROR, PLEXUS_ERROR_INVALID_CONFIG);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/plexus/enums/modes", test_modes);
  g_test_add_func ("/plexus/enums/roles", test_roles);
  g_test_add_func ("/plexus/enums/types", test_enum_types);
  g_test_add_func ("/plexus/error/dbus-names", test_dbus_error_names);
  return g_test_run ();
}
