/* vonage.template_page: one page of custom templates or template fragments. */
#ifndef VN_TEMPLATE_PAGE_H
#define VN_TEMPLATE_PAGE_H

#include <lua.h>

#define VN_TEMPLATE_PAGE_TNAME "vonage.template_page"

int vn_template_page_open(lua_State *L);

#endif
