# Reference values from R's glm for the paths of glm.fit that the main golden cases
# (../golden/glm.json) do not reach: step halving ("step size truncated due to divergence"),
# non-convergence with halving, the null deviance refit for an intercept plus an offset with
# non-canonical links, no intercept with an offset, non-integer binomial successes, and
# prior weights in the gaussian and inverse Gaussian AIC, and models without terms (only an
# offset), which R evaluates without iterating.
#
# Run: Rscript make_glm_extra.R (writes glm_extra.csv and glm_extra.json next to this file).
# Made with R 4.2.2 (Debian 12), jsonlite 1.8.4.
args <- commandArgs(trailingOnly = FALSE)
file_arg <- sub("^--file=", "", args[grep("^--file=", args)])
if (length(file_arg) == 1) setwd(dirname(normalizePath(file_arg)))
library(jsonlite)
# Doubles as %.17g text, so that they read back exactly.
num <- function(x) if (is.na(x) || !is.finite(x)) NA else structure(sprintf("%.17g", x), class = "json")

n <- 25
set.seed(8)
x <- round(runif(n, 0, 5), 1)
invisible(rpois(n, 0.5 + 2 * x))
g8 <- signif(rgamma(n, shape = 2, rate = 2 / (0.3 + x)), 6)
x8 <- x
set.seed(20)
x <- round(runif(n, 0, 5), 1)
invisible(rpois(n, 0.5 + 2 * x))
g20 <- signif(rgamma(n, shape = 2, rate = 2 / (0.3 + x)), 6)
x20 <- x
set.seed(3)
e <- round(runif(n, 0.5, 3), 2)
cnt <- rpois(n, e * exp(0.2 + 0.3 * x8))
b <- as.numeric(runif(n) < pnorm(-0.5 + 0.3 * x8 + 0.2 * e))
pw <- round(runif(n, 0.5, 2.5) * 4) / 4
d <- data.frame(x8 = x8, g8 = g8, x20 = x20, g20 = g20, e = e, cnt = cnt, b = b, pw = pw)
write.csv(d, "glm_extra.csv", row.names = FALSE, quote = FALSE)
d <- read.csv("glm_extra.csv")

cases <- list(
  list(name = "gamma_identity_halving", formula = "g8 ~ x8", family = "Gamma", link = "identity", weights = NULL),
  list(name = "gamma_identity_not_converged", formula = "g20 ~ x20", family = "Gamma", link = "identity", weights = NULL),
  list(name = "gamma_log_offset", formula = "g8 ~ x8 + offset(log(e))", family = "Gamma", link = "log", weights = NULL),
  list(name = "binomial_probit_offset", formula = "b ~ x8 + offset(e)", family = "binomial", link = "probit", weights = NULL),
  list(name = "poisson_no_intercept_offset", formula = "cnt ~ x8 - 1 + offset(log(e))", family = "poisson", link = "log", weights = NULL),
  list(name = "poisson_sqrt_offset", formula = "cnt ~ x8 + offset(e)", family = "poisson", link = "sqrt", weights = NULL),
  list(name = "binomial_noninteger_pweights", formula = "b ~ x8", family = "binomial", link = "logit", weights = "pw"),
  list(name = "gaussian_log_pweights", formula = "g8 ~ x8", family = "gaussian", link = "log", weights = "pw"),
  list(name = "invgauss_log_pweights", formula = "g8 ~ x8 + offset(log(e))", family = "inverse.gaussian", link = "log", weights = "pw"),
  list(name = "poisson_empty_offset", formula = "cnt ~ offset(log(e)) - 1", family = "poisson", link = "log", weights = NULL),
  list(name = "gamma_empty_offset", formula = "g8 ~ offset(log(e)) - 1", family = "Gamma", link = "log", weights = "pw")
)
out <- lapply(cases, function(cs) {
  ws <- character(0)
  fam <- get(cs$family)(link = cs$link)
  f <- withCallingHandlers(
    if (is.null(cs$weights)) glm(as.formula(cs$formula), family = fam, data = d)
    else glm(as.formula(cs$formula), family = fam, data = d, weights = d[[cs$weights]]),
    warning = function(w) { ws <<- c(ws, conditionMessage(w)); invokeRestart("muffleWarning") })
  s <- summary(f)
  co <- s$coefficients
  list(name = cs$name, formula = cs$formula, family = cs$family, link = cs$link,
       pweights = if (is.null(cs$weights)) NA else cs$weights,
       coefficients = I(lapply(seq_len(nrow(co)), function(i) list(name = rownames(co)[i],
         estimate = num(co[i, 1]), std_error = num(co[i, 2]), statistic = num(co[i, 3]), p_value = num(co[i, 4])))),
       deviance = num(f$deviance), null_deviance = num(f$null.deviance), df_residual = f$df.residual,
       df_null = f$df.null, aic = num(f$aic), dispersion = num(s$dispersion),
       iter = f$iter, converged = f$converged, boundary = f$boundary, warnings = I(unique(ws)))
})
writeLines(toJSON(list(r_version = R.version.string, cases = out), auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE, na = "null"),
           "glm_extra.json")
