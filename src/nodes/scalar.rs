//! Operations between a variable and an `f32` (on either side of `+ - * /`), and unary `-`.

use super::unary::{Unary, UnaryOp};
use crate::{Node, Variable};

/// Defines a parametrised unary operation for one side of an `f32` operator.
macro_rules! scalar_op {
    ($(#[$doc:meta])* $marker:ident, $alias:ident, $name:literal,
     |$c:ident, $x:ident| $apply:expr, |$dc:ident, $dx:ident, $dy:ident| $derivative:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $marker(pub f32);

        impl UnaryOp for $marker {
            const NAME: &'static str = $name;
            #[inline(always)]
            fn apply(&self, $x: f32) -> f32 {
                let $c = self.0;
                $apply
            }
            #[inline(always)]
            #[allow(unused_variables)]
            fn derivative(&self, $dx: f32, $dy: f32) -> f32 {
                let $dc = self.0;
                $derivative
            }
        }

        #[doc = concat!("Node for `", $name, "`.")]
        pub type $alias<T> = Unary<$marker, T>;
    };
}

scalar_op!(
    /// `x + c`.
    AddScalarOp, AddScalar, "x + c",
    |c, x| x + c,
    |c, x, y| 1.0
);
scalar_op!(
    /// `x * c`.
    MulScalarOp, MulScalar, "x * c",
    |c, x| x * c,
    |c, x, y| c
);
scalar_op!(
    /// `c - x`.
    ScalarSubOp, ScalarSub, "c - x",
    |c, x| c - x,
    |c, x, y| -1.0
);
scalar_op!(
    /// `x - c`.
    SubScalarOp, SubScalar, "x - c",
    |c, x| x - c,
    |c, x, y| 1.0
);
scalar_op!(
    /// `x / c`.
    DivScalarOp, DivScalar, "x / c",
    |c, x| x / c,
    |c, x, y| 1.0 / c
);
scalar_op!(
    /// `c / x`.
    ScalarDivOp, ScalarDiv, "c / x",
    |c, x| c / x,
    |c, x, y| -y / x
);

/// `-x`; node type [`Neg`].
#[derive(Debug, Clone, Copy)]
pub struct NegOp;

impl UnaryOp for NegOp {
    const NAME: &'static str = "neg";
    #[inline(always)]
    fn apply(&self, x: f32) -> f32 {
        -x
    }
    #[inline(always)]
    fn derivative(&self, _x: f32, _y: f32) -> f32 {
        -1.0
    }
}

/// Node for unary `-`.
pub type Neg<T> = Unary<NegOp, T>;

impl<T: Node> std::ops::Neg for Variable<T> {
    type Output = Variable<Neg<T>>;
    fn neg(self) -> Self::Output {
        self.map(NegOp)
    }
}

/// `Variable op f32` and `f32 op Variable` for one operator.
macro_rules! scalar_operators {
    ($trait:ident, $method:ident, $right:ident, $left:ident) => {
        impl<T: Node> std::ops::$trait<f32> for Variable<T> {
            type Output = Variable<Unary<$right, T>>;
            fn $method(self, c: f32) -> Self::Output {
                self.map($right(c))
            }
        }

        impl<T: Node> std::ops::$trait<Variable<T>> for f32 {
            type Output = Variable<Unary<$left, T>>;
            fn $method(self, x: Variable<T>) -> Self::Output {
                x.map($left(self))
            }
        }
    };
}

scalar_operators!(Add, add, AddScalarOp, AddScalarOp);
scalar_operators!(Mul, mul, MulScalarOp, MulScalarOp);
scalar_operators!(Sub, sub, SubScalarOp, ScalarSubOp);
scalar_operators!(Div, div, DivScalarOp, ScalarDivOp);

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::arr2;

    fn eval<T: Node>(mut v: Variable<T>) -> f32 {
        v.forward();

        v.value()[(0, 0)]
    }

    #[test]
    fn values_on_both_sides() {
        let x = || InputNode::new(arr2(&[[4.0]]));
        assert_eq!(eval(x() + 1.0), 5.0);
        assert_eq!(eval(1.0 + x()), 5.0);
        assert_eq!(eval(x() - 1.0), 3.0);
        assert_eq!(eval(1.0 - x()), -3.0);
        assert_eq!(eval(x() * 2.0), 8.0);
        assert_eq!(eval(2.0 * x()), 8.0);
        assert_eq!(eval(x() / 2.0), 2.0);
        assert_eq!(eval(2.0 / x()), 0.5);
        assert_eq!(eval(-x()), -4.0);
    }

    #[test]
    fn gradients() {
        for (r, c) in [(1, 1), (3, 4)] {
            // |x| >= 1 keeps `1.5 / x` smooth (`v + 3.0` came near 0 now and then).
            let x = ParameterNode::new(random_matrix(r, c).mapv(|v| v + v.signum()));
            gradcheck::assert_gradient(&mut (x.clone() + 1.5), &x);
            gradcheck::assert_gradient(&mut (1.5 + x.clone()), &x);
            gradcheck::assert_gradient(&mut (x.clone() - 1.5), &x);
            gradcheck::assert_gradient(&mut (1.5 - x.clone()), &x);
            gradcheck::assert_gradient(&mut (x.clone() * 1.5), &x);
            gradcheck::assert_gradient(&mut (1.5 * x.clone()), &x);
            gradcheck::assert_gradient(&mut (x.clone() / 1.5), &x);
            gradcheck::assert_gradient(&mut (1.5 / x.clone()), &x);
            gradcheck::assert_gradient(&mut (-x.clone()), &x);
        }
    }
}
