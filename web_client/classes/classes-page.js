// The class store page's entry point: a file, not an inline <script>, because the pages'
// Content-Security-Policy runs only scripts served from this server (script-src 'self').
import { classesPage } from "./classes.js";

classesPage();
